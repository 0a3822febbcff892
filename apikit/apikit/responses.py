"""JSON responses, built for speed: presenters hand over plain, JSON-ready dicts.

Pages of a hundred users with their orders made pydantic's model building and
dumping a fifth of the read path; the views' pydantic models now document the
shapes (OpenAPI) and tests hold the presenters to them, while the hot path
builds dicts and encodes them with orjson.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web


def utc_iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a `Z`, as the API has always written times."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def json_response(data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, headers=headers, content_type="application/json"
    )
