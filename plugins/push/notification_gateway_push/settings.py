"""The push channel's settings: `PUSH_API_URL` (required), `PUSH_API_TOKEN`, `PUSH_TIMEOUT_SECONDS`."""

from __future__ import annotations

from collections.abc import Mapping

from notification_gateway.channels import ProviderSettings, provider_settings


def load_settings(environ: Mapping[str, str] | None = None) -> ProviderSettings:
    """No default URL: patients' notifications must never reach a public ntfy server by accident.

    The token is optional because a self-hosted ntfy may allow anonymous publishing.
    """
    return provider_settings("PUSH", default_url=None, token_required=False, environ=environ)
