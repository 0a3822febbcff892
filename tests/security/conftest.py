"""The running system the end-to-end suite uses, for attacks against real processes."""

from tests.e2e.conftest import (  # noqa: F401 - fixtures
    http,
    provider,
    receipts_port,
    sandbox,
    unstarted_system,
)
