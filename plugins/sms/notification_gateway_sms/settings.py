"""The SMS channel's settings: `SMS_API_URL`, `SMS_API_TOKEN`, `SMS_TIMEOUT_SECONDS`."""

from __future__ import annotations

from collections.abc import Mapping

from notification_gateway.channels import ProviderSettings, provider_settings

PRODUCTION_URL = "https://dev.sanogenetics.com/dev/home-test/sms-delivery-service"


def load_settings(environ: Mapping[str, str] | None = None) -> ProviderSettings:
    """Checked before the gateway starts; a missing token stops it, naming the variable."""
    return provider_settings("SMS", default_url=PRODUCTION_URL, environ=environ)
