"""The outbox relay: hands each pending outbox row to the gateway's `POST /notify`, once.

Each row is sent with its id as the `Idempotency-Key`, so a resend after a
timeout or a crash replays the gateway's first answer instead of notifying
twice. While the gateway is down, slow or failing, rows wait with capped
exponential backoff and full jitter; nothing is dropped. Only a request the
gateway refuses for good (a 4xx other than 401/403/408/409/429) fails the row,
and the order shows it. A refused token (401/403) is a configuration error:
rows wait for the fix, and the cause is logged once, under its own name.

The relay looks for due rows when it is woken and every `poll_seconds` besides. A request that
wrote rows wakes the relay of its own process directly. A process without one (API only) sends
`NOTIFY outbox_messages` after the commit, on PostgreSQL, and every relay listens for it
(`apikit.wakeups`), so a relay in its own process starts at once too. The poll stays as the
safety net for what nobody heard, and is how rows come due after a backoff.
"""

from __future__ import annotations

import logging
from typing import Unpack

from apikit.alerts import ConditionLog
from apikit.backoff import Backoff
from apikit.database import transaction
from apikit.queue import QueueWorker, WorkerOptions
from apikit.request_ids import REQUEST_ID_HEADER, new_request_id
from apikit.updates import Update
from orders_service.gateway import TOKEN_STATUSES, GatewayClient, GatewayUnreachable, token_refused
from orders_service.lifecycle import OrderNotificationStatus, OutboxStatus
from orders_service.models import DNAKitOrder, OutboxMessage
from orders_service.relay_metrics import BAD_ANSWER, UNREACHABLE, RelayMetrics, cause_of

log = logging.getLogger("orders_service.relay")

RETRY_STATUSES = frozenset({401, 403, 408, 409, 429})  # plus every 5xx
OUTBOX_CHANNEL = "outbox_messages"  # the NOTIFY channel of new outbox rows
UPDATE_ORDER = Update(DNAKitOrder)


class OutboxRelay(QueueWorker[OutboxMessage]):
    """Sends due outbox rows to the gateway, at most `concurrency` at a time."""

    model = OutboxMessage
    waiting = leased = OutboxStatus.PENDING

    def __init__(
        self,
        *,
        gateway: GatewayClient,
        backoff: Backoff,
        metrics: RelayMetrics | None = None,
        **options: Unpack[WorkerOptions],
    ) -> None:
        super().__init__(**options)
        self.gateway = gateway
        self.backoff = backoff
        self.conditions = ConditionLog(log)
        self.metrics = metrics

    async def before_claim(self) -> None:
        if self.metrics is not None:
            await self.metrics.refresh(self.clock())

    def _count(self, cause: str) -> None:
        if self.metrics is not None:
            self.metrics.refusals.labels(cause).inc()

    async def process(self, message: OutboxMessage) -> None:
        headers = {"Idempotency-Key": message.id, REQUEST_ID_HEADER: message.request_id or new_request_id()}
        try:
            answer = await self.gateway.request("POST", "/notify", body=message.payload, headers=headers)
            body = answer.json() if answer.status < 500 else None
            if answer.status != 202:
                self._count(cause_of(answer.status))
            if answer.status == 202:
                self.conditions.cleared("token_refused", "the gateway accepts this service's token again")
                self.conditions.cleared("unreachable", "the gateway is reached again")
                self.conditions.cleared("gateway_error", "the gateway accepts notifications again")
                await self._accepted(message, body)
            elif answer.status in TOKEN_STATUSES:
                error = token_refused(answer.status)
                self.conditions.raised("token_refused", error, setting="ORDERS_GATEWAY_TOKEN")
                await self._retry(message, error, answer.retry_after())
            elif answer.status in RETRY_STATUSES or answer.status >= 500:
                error = f"gateway answered {answer.status}"
                self.conditions.raised("gateway_error", error, level=logging.WARNING)
                await self._retry(message, error, answer.retry_after())
            else:
                detail = body.get("detail") if isinstance(body, dict) else None
                await self._refused(message, f"gateway refused it ({answer.status}): {detail or ''}")
        except GatewayUnreachable as exc:
            self._count(UNREACHABLE)
            error = f"gateway unreachable ({exc.cause})"
            self.conditions.raised("unreachable", error, level=logging.WARNING)
            await self._retry(message, error, None)
        except (ValueError, KeyError, TypeError) as exc:
            self._count(BAD_ANSWER)
            await self._retry(message, f"unexpected answer from the gateway ({type(exc).__name__})", None)

    async def _accepted(self, message: OutboxMessage, body: dict) -> None:
        order_updates = {
            "notification_id": body["id"],
            "notification_channel": body["channel"],
            "notification_status": OrderNotificationStatus.QUEUED,
        }
        await self._finish(
            message,
            order_updates,
            status=OutboxStatus.SENT,
            notification_id=body["id"],
            sent_at=self.clock(),
            last_error=None,
        )
        log.info("handed to the gateway", extra={"outbox": message.id, "notification": body["id"]})

    async def _retry(self, message: OutboxMessage, error: str, retry_after: float | None) -> None:
        failures = message.attempts + 1
        wait = self.backoff.delay(failures, self.rng, retry_after)
        await self.queue.retry_later(message, wait, attempts=failures, last_error=error[:300])
        # Per row at DEBUG only: the cause is logged once, as a condition, by `process`.
        log.debug("outbox row will be retried", extra={"outbox": message.id, "error": error, "wait": wait})

    async def _refused(self, message: OutboxMessage, error: str) -> None:
        order_updates = {"notification_status": OrderNotificationStatus.FAILED}
        await self._finish(message, order_updates, status=OutboxStatus.FAILED, last_error=error[:300])
        log.error("the gateway refused a notification", extra={"outbox": message.id, "error": error})

    async def _finish(self, message: OutboxMessage, order_updates: dict, **updates) -> None:
        """Record the last attempt on the row and, in the same transaction, on its order, if this relay
        still holds the row's lease. The order changes only while its notification is pending: a
        status callback may already have said more (and named a fallback channel)."""
        async with transaction() as connection:
            kept = await self.queue.finish(message, connection, attempts=message.attempts + 1, **updates)
            if kept and message.order_id is not None:
                pending = {"id": message.order_id, "notification_status": OrderNotificationStatus.PENDING}
                await UPDATE_ORDER.run(connection, pending, **order_updates)
