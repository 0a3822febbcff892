"""The running system the end-to-end suite uses, for attacks against real processes."""

from tests.e2e.conftest import http, provider, sandbox, unstarted_system  # noqa: F401 - fixtures
