"""The `Title` header value: HTTP headers carry latin-1 at best, titles are any Unicode."""

from __future__ import annotations

import base64
import re

_PLAIN = re.compile(r"[\x20-\x7e]*")
# An encoded word may be 75 characters long (RFC 2047): `=?UTF-8?B?` + 60 base64 characters + `?=`.
_MAX_WORD_BYTES = 45


def title_header(title: str) -> str:
    """Printable ASCII as is; anything else as RFC 2047 encoded words, which ntfy decodes.

    Also encoded: a title that merely looks encoded (`=?`), so ntfy shows it as written.
    Words break between characters, never inside one, so each decodes on its own.
    """
    if _PLAIN.fullmatch(title) and "=?" not in title:
        return title
    words: list[bytes] = []
    word = b""
    for char in title:
        encoded = char.encode("utf-8", errors="replace")
        if len(word) + len(encoded) > _MAX_WORD_BYTES:
            words.append(word)
            word = b""
        word += encoded
    words.append(word)
    return " ".join(f"=?UTF-8?B?{base64.b64encode(word).decode('ascii')}?=" for word in words)
