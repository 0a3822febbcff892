"""Topics out of provider answers: on ntfy, whoever knows a topic can read everything sent to it."""

from __future__ import annotations

from dataclasses import replace

from notification_gateway.channels import DeliveryError, Receipt, RetryableDeliveryError

HIDDEN = "***"
# A shorter cut-off start of the topic at the end of a shortened detail is indistinguishable from text.
_MIN_PREFIX = 4


def without_topic(text: str, topic: str) -> str:
    """`text` with `topic` hidden, also where the provider summary's length limit cut it short."""
    text = text.replace(topic, HIDDEN)
    for size in range(len(topic) - 1, _MIN_PREFIX - 1, -1):
        if text.endswith(topic[:size]):
            return text[:-size] + HIDDEN
    return text


def redacted_receipt(receipt: Receipt, topic: str) -> Receipt:
    """ntfy echoes the topic in every accepted answer."""
    if receipt.detail is None:
        return receipt
    return replace(receipt, detail=without_topic(receipt.detail, topic))


def redacted_error(error: DeliveryError, topic: str) -> DeliveryError:
    """The same kind of error, status and retry hint, with the topic cut out of its reason."""
    reason = without_topic(error.reason, topic)
    if isinstance(error, RetryableDeliveryError):
        return RetryableDeliveryError(
            reason, provider_status=error.provider_status, retry_after=error.retry_after
        )
    return type(error)(reason, provider_status=error.provider_status)
