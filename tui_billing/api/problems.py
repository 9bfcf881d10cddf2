"""Errors as ``application/problem+json`` (RFC 9457), shaped like OpenMeter's.

``{type: "about:blank", title: <HTTP reason>, status, detail, instance: <request path>}``.
"""

import json
from functools import partial
from http import HTTPStatus
from typing import Any

from aiohttp import web

from ..domain.errors import BillingError, Conflict, InvalidValue, NotAllowed, NotFound

PROBLEM_JSON = "application/problem+json"
STATUS_OF: dict[type[BillingError], int] = {
    InvalidValue: 400, NotAllowed: 400, NotFound: 404, Conflict: 409,
}

compact_json = partial(json.dumps, ensure_ascii=False, separators=(",", ":"))
"""How every answer of the API is serialised."""


class Unauthorized(Exception):
    """The request lacks the bearer token the server was started with."""


def status_of(error: BillingError) -> int:
    return next((code for kind, code in STATUS_OF.items() if isinstance(error, kind)), 400)


def problem(status: int, detail: str, instance: str, headers: dict[str, Any] | None = None) -> web.Response:
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status,
            "detail": detail, "instance": instance}
    return web.json_response(body, status=status, content_type=PROBLEM_JSON, headers=headers,
                             dumps=compact_json)
