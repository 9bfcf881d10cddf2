"""Errors as ``application/problem+json`` (RFC 9457), shaped like OpenMeter's.

v1 (``models.StatusProblem``): ``{type: "about:blank", title, status, detail, instance,
extensions?}``. v3 (Konnect's error shape): ``{type: <kongapi.info URL>, title, status,
detail, instance, invalid_parameters?, extensions?}``; its 400 carries at least one
invalid parameter, as the v3 spec requires. ``instance`` is ``urn:request:<request id>``.

Billing refusals carry ``extensions`` as OpenMeter's ``EncodeValidationIssues`` builds
them: the first validation issue's fields, and ``additionalIssues`` for the rest.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from http import HTTPStatus
from typing import Any, Literal

from aiohttp import web

from ..domain.errors import BillingError, Conflict, InvalidValue, NotAllowed, NotFound

PROBLEM_JSON = "application/problem+json"
STATUS_OF: dict[type[BillingError], int] = {
    InvalidValue: 400,
    NotAllowed: 400,
    NotFound: 404,
    Conflict: 409,
}
V3_TYPES = {
    400: "bad-request",
    401: "unauthenticated",
    403: "unauthorized",
    404: "not-found",
    405: "method-not-allowed",
    409: "resource-conflict",
    412: "precondition-failed",
    501: "not-implemented",
    503: "unavailable",
}
"""The last part of v3's ``type`` URLs (``https://kongapi.info/konnect/<name>``)."""
Api = Literal["v1", "v3"]

compact_json = partial(json.dumps, ensure_ascii=False, separators=(",", ":"))
"""How every answer of the API is serialised."""


class Unauthorized(Exception):
    """The request lacks the bearer token the server was started with."""


@dataclass(frozen=True)
class Issue:
    """A billing validation issue as a problem's extension shows it."""

    severity: Literal["critical", "warning"]
    message: str
    code: str | None = None
    component: str | None = None
    path: str | None = None

    def extension(self) -> dict[str, str]:
        return {
            k: v
            for k, v in (
                ("severity", self.severity),
                ("message", self.message),
                ("component", self.component),
                ("path", self.path),
                ("code", self.code),
            )
            if v
        }


@dataclass(frozen=True)
class Parameter:
    """One v3 ``invalid_parameters`` item (the standard kind: field, reason, source, rule)."""

    field: str
    reason: str
    source: Literal["body", "path", "query", "header"]
    rule: str | None = None

    def item(self) -> dict[str, str]:
        return {
            k: v
            for k, v in (
                ("field", self.field),
                ("rule", self.rule),
                ("reason", self.reason),
                ("source", self.source),
            )
            if v
        }


@dataclass
class ApiProblem(Exception):
    """A refused request: its status, detail and what the answer adds to them."""

    status: int
    detail: str
    issues: Sequence[Issue] = ()
    parameters: Sequence[Parameter] = ()
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.detail


def status_of(error: BillingError) -> int:
    return next((code for kind, code in STATUS_OF.items() if isinstance(error, kind)), 400)


def extensions(issues: Sequence[Issue]) -> dict[str, Any]:
    """The first issue's fields, and ``additionalIssues`` when there are more."""
    if not issues:
        return {}
    out: dict[str, Any] = issues[0].extension()
    if len(issues) > 1:
        out["additionalIssues"] = [issue.extension() for issue in issues[1:]]
    return out


def problem_body(api: Api, problem: ApiProblem, instance: str) -> dict[str, Any]:
    """The problem document of ``api`` for a request whose instance URI is ``instance``."""
    title = HTTPStatus(problem.status).phrase
    if api == "v1":
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": title,
            "status": problem.status,
            "detail": problem.detail,
            "instance": instance,
        }
    else:
        kind = V3_TYPES.get(problem.status, "internal")
        body = {
            "type": f"https://kongapi.info/konnect/{kind}",
            "title": title,
            "status": problem.status,
            "detail": problem.detail,
            "instance": instance,
        }
        parameters = problem.parameters
        if problem.status == 400 and not parameters:
            parameters = [Parameter("request", problem.detail, "body", "invalid")]
        if parameters:
            body["invalid_parameters"] = [parameter.item() for parameter in parameters]
    if problem.issues:
        body["extensions"] = extensions(problem.issues)
    return body


def problem_response(api: Api, problem: ApiProblem, instance: str) -> web.Response:
    return web.json_response(
        problem_body(api, problem, instance),
        status=problem.status,
        content_type=PROBLEM_JSON,
        headers=problem.headers or None,
        dumps=compact_json,
    )
