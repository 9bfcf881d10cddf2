"""Keeps web pages out of the tokenless API: cross-site requests and DNS rebinding.

A page in the user's browser can send requests to ``127.0.0.1`` (a form posting
``text/plain``) or, after rebinding its own name to ``127.0.0.1``, read the answers too.
Three checks refuse both, while curl, SDKs and scripts pass unchanged:

* ``Host`` must name the address the request arrived on (``localhost`` too when that is a
  loopback address), or a name listed in ``$TUI_BILLING_ALLOWED_HOSTS`` (comma-separated,
  with or without a port): a rebound name never matches. (A request without ``Host`` comes
  from an HTTP/1.0 tool, never from a browser, and passes.)
* ``Origin``, when a browser sends one, must name such a host as well.
* A write (POST, PUT, PATCH, DELETE) must not carry a type an HTML form can send
  (``text/*``, ``application/x-www-form-urlencoded``, ``multipart/form-data``); any other
  type makes the browser ask first (a CORS preflight) and this server never agrees.

``ProblemRunner`` also answers the HTTP library's own refusals (a malformed request line,
an oversized header) as ``application/problem+json``, like every other error.
"""

import ipaddress
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from functools import lru_cache
from http import HTTPStatus
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_server import Server

from .problems import Api, ApiProblem, problem_response

ALLOWED_HOSTS_VAR = "TUI_BILLING_ALLOWED_HOSTS"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
log = logging.getLogger("tui_billing.api")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _allowed_hosts(request: web.Request) -> frozenset[str]:
    """Every ``host:port`` a request on this connection may name."""
    local = request.transport.get_extra_info("sockname") if request.transport else None
    address, port = (local[0], local[1]) if local else (None, None)
    return _hosts_allowed(address, port, os.environ.get(ALLOWED_HOSTS_VAR, ""))


@lru_cache(maxsize=64)
def _hosts_allowed(address: str | None, port: int | None, listed: str) -> frozenset[str]:
    """``_allowed_hosts`` for a local address and ``$TUI_BILLING_ALLOWED_HOSTS``: the same
    for every request of a server, so worked out once."""
    allowed: set[str] = set()
    if address is not None:
        names = [f"[{address}]" if ":" in address else address]
        if ipaddress.ip_address(address.split("%")[0]).is_loopback:
            names.append("localhost")
        allowed |= {f"{name}:{port}" for name in names}
        if port == 80:
            allowed |= set(names)
    for entry in listed.split(","):
        entry = entry.strip().lower()
        if entry:
            allowed.add(entry)
            if address is not None and ":" not in entry.rsplit("]", 1)[-1]:
                allowed.add(f"{entry}:{port}")
    return frozenset(allowed)


def _refuse(detail: str) -> web.HTTPForbidden:
    return web.HTTPForbidden(text=detail)


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a foreign Host or Origin, and form content types on writes."""
    allowed = _allowed_hosts(request)
    host = request.headers.get("Host", "").strip().lower()
    if host and host not in allowed:  # none at all: an HTTP/1.0 client, never a browser
        raise _refuse(
            f"Host {host!r} is not this server's address; use "
            f"{' or '.join(sorted(allowed))} (or list the name in ${ALLOWED_HOSTS_VAR})"
        )
    origin = request.headers.get("Origin")
    if origin is not None:
        parts = urlsplit(origin.strip().lower())
        if parts.scheme not in ("http", "https") or parts.netloc not in allowed:
            raise _refuse(f"requests from web pages at {origin!r} are not accepted")
    kind = request.content_type
    if request.method in WRITES and (kind.startswith("text/") or kind in FORM_TYPES):
        raise web.HTTPUnsupportedMediaType(
            text=f"{request.method} bodies must be application/json, not {kind}"
        )
    return await handler(request)


class _ProblemHandler(RequestHandler):
    """A connection handler whose own error answers are problems."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # an answer was already under way: nothing to add
            raise ConnectionError("the answer was already sent; cannot send an error too")
        log.debug("refused a malformed request from %s: %s", request.remote, message or exc)
        detail = " ".join((message or HTTPStatus(status).description).split())[:300]
        try:
            path = request.path
        except Exception:  # the request line itself could not be read
            path = "/"
        api: Api = "v3" if path.startswith(("/api/v3/", "/v3/")) else "v1"
        instance = f"urn:request:tui-billing/malformed-{secrets.token_hex(6)}"
        response = problem_response(api, ApiProblem(status, detail), instance)
        response.force_close()
        return response


class _ProblemServer(Server):
    def __call__(self) -> RequestHandler:
        return _ProblemHandler(self, loop=self._loop, **self._kwargs)


class ProblemRunner(web.AppRunner):
    """``web.AppRunner`` whose connections answer malformed requests with problem+json."""

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        server.__class__ = _ProblemServer
        return server
