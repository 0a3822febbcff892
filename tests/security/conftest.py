"""The running system the end-to-end suite uses, for attacks against real processes."""

from tests.e2e.conftest import http, provider, sandbox  # noqa: F401 - fixtures
from tests.e2e.test_orders_end_to_end import unstarted_system  # noqa: F401 - fixture
