"""The e-mail channel's settings: `EMAIL_API_URL`, `EMAIL_API_TOKEN`, `EMAIL_TIMEOUT_SECONDS`."""

from __future__ import annotations

from collections.abc import Mapping

from notification_gateway.channels import ProviderSettings, provider_settings

PRODUCTION_URL = "https://dev.sanogenetics.com/dev/home-test/email-delivery-service"


def load_settings(environ: Mapping[str, str] | None = None) -> ProviderSettings:
    """Checked before the gateway starts; a missing token stops it, naming the variable."""
    return provider_settings("EMAIL", default_url=PRODUCTION_URL, environ=environ)
