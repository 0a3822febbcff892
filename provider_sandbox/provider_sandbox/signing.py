"""How the sandbox signs the webhooks it sends (receipts and inbound messages).

The recipe, as the README states it for anyone verifying: the signed text is
the decimal Unix timestamp, a full stop, then the raw body bytes; the
signature is HMAC-SHA256 over it, keyed with the channel's secret (its UTF-8
bytes), written as `sha256=<lowercase hex>`. Putting the timestamp under the
signature lets a receiver refuse an old request replayed at it.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Sandbox-Signature"
TIMESTAMP_HEADER = "X-Sandbox-Timestamp"
DELIVERY_HEADER = "X-Sandbox-Delivery"
USER_AGENT = "provider-sandbox-webhooks/1"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=` and the hex HMAC-SHA256 of `<timestamp>.<body>` keyed with `secret`."""
    signed = str(timestamp).encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, *, delivery_id: str, now: float | None = None) -> dict[str, str]:
    """The headers of one attempt: signed afresh each time, so a retry carries a current timestamp."""
    timestamp = int(time.time() if now is None else now)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        DELIVERY_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }
