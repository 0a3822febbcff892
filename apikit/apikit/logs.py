"""Structured JSON logs that carry the request and trace ids and never carry personal data.

Every record is one JSON object on stderr. A filter masks e-mail addresses,
phone numbers and bearer tokens in the message and its arguments, so a careless
log call cannot leak them. Two more things are masked because no pattern can
recognise them: the values of contact fields registered with `mask_fields`
(a push topic looks like any word, but not under its key, even inside the JSON
a database driver logs), and the values a task is handling, named with `hiding`.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson

from apikit.tracing import log_ids

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{6,13}|0\d{7,10})(\d{2})(?!\w)")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_SECRET_KEYS = re.compile(r"(?i)((?:token|secret|password|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+")
# Every pattern above needs one of these to match: `@` (e-mail), eight digits in a row (the shortest
# phone number: `+` and 8 digits), or a keyword, in any case (bearer, the secret keys, a registered
# field name). Most log text (an access-log line, a route, a method) has none, so a few substring
# searches clear it instead of five regex substitutions: profiling showed masking as most of the
# access log's cost.
_SUSPECT_WORDS = ("bearer", "token", "secret", "password", "authorization")
_EIGHT_DIGITS = re.compile(r"\d{8}")
_suspect_words: tuple[str, ...] = _SUSPECT_WORDS
HIDDEN = "***"
# A value cut short at the end of a text still identifies someone if this long.
_MIN_CUT_PREFIX = 4

# `contacts` holds every contact point of a person (users in orders, recipients in the gateway).
_masked_fields: set[str] = set()
_field_values: re.Pattern[str] | None = None
_hidden_var: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("hidden_values", default=())

# Attributes every LogRecord has; anything else was passed through `extra=`.
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def mask_fields(names: Iterable[str]) -> None:
    """Also mask the value under each of these keys (`"push_topic": "..."`, `push_topic=...`), anywhere."""
    global _field_values, _suspect_words
    _masked_fields.update(name for name in names if name)
    _suspect_words = (*_SUSPECT_WORDS, *sorted({name.lower() for name in _masked_fields}))
    if not _masked_fields:
        return
    keys = "|".join(re.escape(name) for name in sorted(_masked_fields, key=len, reverse=True))
    # The key, optionally quoted (also backslash-escaped quotes, as in JSON inside a JSON string),
    # then `:` or `=`, then a quoted value up to the same quote, a flat {object}, or a bare word.
    _field_values = re.compile(
        rf"""((?<![\w-])(?:\\*["'])?(?:{keys})(?:\\*["'])?\s*[:=]\s*)"""
        rf"""(?:(\\*["'])(.*?)\2|(\{{)[^{{}}]*\}}|([^\s"',}}\]\\]+))"""
    )


def masked_fields() -> frozenset[str]:
    """The keys whose values every log line masks."""
    return frozenset(_masked_fields)


@contextmanager
def hiding(values: Iterable[str]) -> Iterator[None]:
    """Within the block (this task and what it awaits), mask these exact values in every log line."""
    found = tuple(sorted({value for value in values if value}, key=len, reverse=True))
    token = _hidden_var.set(_hidden_var.get() + found)
    try:
        yield
    finally:
        _hidden_var.reset(token)


def redact(text: str, values: Iterable[str]) -> str:
    """`text` without any of `values` (any case), also where a length limit cut one short at the end.

    Runs on every provider answer, several times per send: it folds the text once (again only
    after a replacement) and finds a cut-short value only where the tail holds its first letter."""
    folded = text.casefold()
    for value in sorted({value for value in values if value}, key=len, reverse=True):
        # Each value is a new pattern (re would compile one per address): look before replacing.
        if value.casefold() in folded:
            text = re.sub(re.escape(value), HIDDEN, text, flags=re.IGNORECASE)
            folded = text.casefold()
        cut = _cut_short_at_end(text.lower(), value.lower())
        if cut:
            text = text[:-cut] + HIDDEN
            folded = text.casefold()
    return text


def _cut_short_at_end(lowered: str, value: str) -> int:
    """How many characters at the end of `lowered` are the start of `value` (both lower case):
    the longest such run shorter than `value` and at least `_MIN_CUT_PREFIX` long; 0 if none."""
    tail = lowered[max(0, len(lowered) - len(value) + 1) :] if len(value) > 1 else ""
    start = tail.find(value[:1])
    while start != -1 and len(tail) - start >= _MIN_CUT_PREFIX:
        if value.startswith(tail[start:]):
            return len(tail) - start
        start = tail.find(value[:1], start + 1)
    return 0


def _mask_field(match: re.Match[str]) -> str:
    key, quote, brace = match.group(1), match.group(2), match.group(4)
    if quote is not None:
        return f"{key}{quote}{HIDDEN}{quote}"
    return f"{key}{{{HIDDEN}}}" if brace else f"{key}{HIDDEN}"


mask_fields(["contacts"])


def mask(text: str) -> str:
    """Hide e-mail addresses, phone numbers, tokens and registered contact fields, keeping enough to debug."""
    hidden = _hidden_var.get()
    if hidden:
        text = redact(text, hidden)
    if not _suspect(text):
        return text
    return _mask_patterns(text)


def _suspect(text: str) -> bool:
    """Could any masking pattern match `text`? False is certain; True may be a false alarm."""
    if not text.isascii():
        return True  # (?i) also matches non-ASCII letters to ASCII ones (long s, dotless i): patterns decide
    if "@" in text or _EIGHT_DIGITS.search(text) is not None:
        return True
    lowered = text.lower()
    return any(word in lowered for word in _suspect_words)


def _mask_patterns(text: str) -> str:
    if _field_values is not None:
        text = _field_values.sub(_mask_field, text)
    text = _BEARER.sub(r"\1***", text)
    text = _SECRET_KEYS.sub(r"\1***", text)
    text = _EMAIL.sub(r"\1***@\2", text)
    return _PHONE.sub(r"***\1", text)


class MaskingFilter(logging.Filter):
    """Rewrites each record's message with personal data masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.getMessage())
        record.args = None
        fields = record.__dict__
        for key in fields.keys() - _RESERVED:
            if isinstance(value := fields[key], str):
                fields[key] = mask(value)
        return True


# Values orjson would write in its own way are written as str() makes them, as json.dumps did.
_AS_STRINGS = (
    orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        entry.update(log_ids())
        fields = record.__dict__
        if extras := fields.keys() - _RESERVED:
            entry.update((key, value) for key, value in fields.items() if key in extras and key[0] != "_")
        if record.exc_info:
            entry["exc"] = mask(self.formatException(record.exc_info))
        try:
            return orjson.dumps(entry, default=str, option=_AS_STRINGS).decode()
        except TypeError:  # what orjson refuses (an integer past 64 bits, a key that is no string)
            return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Route every logger through one masked JSON handler on stderr.

    Records skip what our lines never show (the logging HOWTO's "Optimization"): the caller's
    file and line, thread, process and multiprocessing names; each cost every record time."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
