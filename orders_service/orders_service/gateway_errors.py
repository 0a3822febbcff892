"""How the orders service names what went wrong between it and the gateway."""

from __future__ import annotations

from apikit.errors import DomainError

TOKEN_STATUSES = frozenset({401, 403})


def token_refused(status: int) -> str:
    """The one wording used everywhere (problems, the outbox row, logs) for a refused token."""
    return f"the gateway refused this service's token ({status})"


class GatewayTokenRefused(DomainError):
    """The gateway answers 401/403 to this service's token: a configuration error, not an outage."""

    status: int = 401

    @classmethod
    def answered(cls, status: int) -> GatewayTokenRefused:
        """The error for the gateway's answer `status` (401 or 403), naming the setting to fix."""
        error = cls(
            f"{token_refused(status)}; ORDERS_GATEWAY_TOKEN must be a caller token the gateway accepts."
        )
        error.status = status
        return error
