"""CLI commands of the integration surface: ``serve``, ``callback-response``, ``webhooks …``.

``serve`` runs the HTTP API and the webhook dispatcher headless until Ctrl-C, printing
one line per call and per delivery attempt. ``webhooks`` manages endpoints and reads the
delivery log; while no server runs, a replay is queued and sent at the next start.
"""

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, ContextManager

from .. import workspace
from ..service import Service
from ..service.webhooks import EVENT_TYPES, Attempt, Delivery, Webhooks
from .arguments import in_range, not_blank

if TYPE_CHECKING:
    from ..api import ApiCall

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_parsers(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register this module's commands on the CLI's subparsers."""
    text = ("serve the OpenMeter-compatible HTTP API and send webhooks until Ctrl-C")
    p = sub.add_parser("serve", help=text, description=text)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8888,
                   help="port (default 8888; 0 picks a free one)")
    p.add_argument("--token", metavar="T", help="require Authorization: Bearer T on every request")
    p.add_argument("--callback-response", choices=["invoice", "no_content"],
                   help="answer the three callbacks with 200 + invoice (OpenMeter's server) or 204 "
                        "(its OpenAPI spec and SDK); default: the workspace setting")

    text = ("show or set how the API answers successful callbacks: invoice (200 with the "
            "invoice, like OpenMeter's server) or no_content (204, like its spec and SDK)")
    p = sub.add_parser("callback-response", help=text, description=text)
    p.add_argument("mode", nargs="?", choices=["invoice", "no_content"], metavar="invoice|no_content")

    text = "manage webhook endpoints and read the delivery log"
    p = sub.add_parser("webhooks", help=text, description=text)
    actions = p.add_subparsers(dest="webhooks_action", metavar="ACTION")
    add = actions.add_parser("add", help="add an endpoint; prints its id and signing secret")
    add.add_argument("url", metavar="URL")
    add.add_argument("--secret", metavar="S", help="whsec_… signing secret (default: a new random one)")
    add.add_argument("--events", metavar="TYPE,...",
                     help=f"only these event types ({', '.join(EVENT_TYPES)}); default: "
                          "invoice.created and invoice.updated, as OpenMeter sends")
    actions.add_parser("list", help="list endpoints (the default)").add_argument(
        "--json", action="store_true")
    actions.add_parser("remove", help="remove an endpoint; its pending deliveries are cancelled").add_argument(
        "id", metavar="ID")
    p = actions.add_parser("deliveries", help="the delivery log, oldest first")
    p.add_argument("--event", metavar="ID", help="only this event's deliveries")
    p.add_argument("--json", action="store_true", help="deliveries with every attempt")
    actions.add_parser("replay", help="send one event again (same webhook id)").add_argument(
        "event", metavar="EVENT_ID")


def _service(args: argparse.Namespace) -> ContextManager[Service]:
    return workspace.opened(args.db)


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone().strftime("%H:%M:%S")


def _table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    for row in [headers, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


# --- serve -----------------------------------------------------------------------------------
def serve(args: argparse.Namespace) -> int:
    in_range(args.port, 0, 65535, "--port")
    not_blank(args.host, "--host", "it would listen on every interface")
    not_blank(args.token, "--token", "leave it out to serve without a token")
    with _service(args) as service:
        return asyncio.run(_serve(service, args))


async def _serve(service: Service, args: argparse.Namespace) -> int:
    from ..api import start_integration  # aiohttp is imported only by the commands that serve

    urls = {e.id: e.url for e in Webhooks(service).endpoints(include_removed=True)}
    try:
        integration = await start_integration(
            service, host=args.host, port=args.port, token=args.token,
            callback_response=args.callback_response, on_call=_print_call,
            on_attempt=_attempt_printer(urls))
    except OSError as error:
        print(f"tui-billing: cannot listen on {args.host}:{args.port}: {error.strerror or error}",
              file=sys.stderr)
        return 1
    mode = integration.api.callback_response
    print(f"tui-billing API on {integration.url}  (workspace {service.repository.path})")
    print(f"callbacks answer {'200 with the invoice' if mode == 'invoice' else '204 No Content'} "
          f"({mode}); {'bearer token required' if args.token else 'no token'}; "
          f"{len(urls)} webhook endpoint(s). Ctrl-C stops.", flush=True)
    if warning := exposure_warning(args.host, args.token):
        print(warning, file=sys.stderr)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows: Ctrl-C arrives as KeyboardInterrupt
            pass
    try:
        await stop.wait()
    finally:
        await integration.stop()
        print("stopped", flush=True)
    return 0


def exposure_warning(host: str, token: str | None) -> str | None:
    """The warning to show when a server without a token listens beyond this machine."""
    if host in LOOPBACK or token:
        return None
    return ("warning: not bound to loopback and no --token: anyone who reaches this address "
            "can change the workspace")


def _print_call(call: "ApiCall") -> None:
    detail = f"  {call.detail}" if call.detail else ""
    print(f"{_when(call.at)}  {call.method} {call.path} → {call.status} "
          f"({call.duration_ms:.1f} ms){detail}", flush=True)


def _attempt_printer(urls: dict[str, str]) -> Callable[[Delivery, Attempt], None]:
    def show(delivery: Delivery, attempt: Attempt) -> None:
        answer = str(attempt.status_code) if attempt.status_code is not None else attempt.response
        outcome = {"succeeded": "delivered", "failed": "gave up"}.get(
            delivery.status, f"retry at {_when(attempt.next_retry_at)}")
        url = urls.get(delivery.endpoint_id, delivery.endpoint_id)
        print(f"{_when(attempt.at)}  webhook {delivery.event_type} {delivery.event_id} → {url} "
              f"#{attempt.number}: {answer} ({attempt.latency_ms:.1f} ms), {outcome}", flush=True)

    return show


def callback_response(args: argparse.Namespace) -> int:
    with _service(args) as service:
        if args.mode:
            service.set_callback_response(args.mode)
        print(service.workspace().callback_response)
    return 0


# --- webhooks --------------------------------------------------------------------------------
def webhooks(args: argparse.Namespace) -> int:
    action = args.webhooks_action or "list"
    with _service(args) as service:
        hooks = Webhooks(service)
        if action == "add":
            endpoint = hooks.add(args.url, secret=args.secret,
                                 event_types=(args.events or "").split(","))
            print(f"added {endpoint.id} → {endpoint.url}")
            print(f"secret {endpoint.secret}")
            print(f"events {', '.join(endpoint.event_types) or 'invoice.created, invoice.updated'}")
        elif action == "list":
            _list(hooks, getattr(args, "json", False))
        elif action == "remove":
            endpoint = hooks.remove(args.id)
            print(f"removed {endpoint.id} → {endpoint.url}")
        elif action == "deliveries":
            _deliveries(hooks, args.event, args.json)
        else:
            created = hooks.replay(args.event)
            print(f"queued {len(created)} deliver{'y' if len(created) == 1 else 'ies'} of {args.event}; "
                  "they are sent while `tui-billing serve` or the dashboard runs")
    return 0


def _list(hooks: Webhooks, as_json: bool) -> None:
    endpoints = hooks.endpoints()
    if as_json:
        print(json.dumps([e.model_dump(mode="json") for e in endpoints], indent=2))
        return
    counts: dict[tuple[str, str], int] = {}
    for delivery in hooks.deliveries():
        key = (delivery.endpoint_id, delivery.status)
        counts[key] = counts.get(key, 0) + 1
    _table(["ID", "URL", "EVENTS", "SUCCEEDED", "PENDING", "FAILED"],
           [[e.id, e.url, ",".join(e.event_types) or "(created,updated)",
             *(str(counts.get((e.id, status), 0)) for status in ("succeeded", "pending", "failed"))]
            for e in endpoints])


def _deliveries(hooks: Webhooks, event_id: str | None, as_json: bool) -> None:
    deliveries = hooks.deliveries(event_id)
    urls = {e.id: e.url for e in hooks.endpoints(include_removed=True)}
    if as_json:
        print(json.dumps([{**d.model_dump(mode="json"), "endpoint_url": urls.get(d.endpoint_id)}
                          for d in deliveries], indent=2, ensure_ascii=False))
        return
    rows = []
    for d in deliveries:
        last = d.attempts[-1] if d.attempts else None
        answer = "-" if last is None else (str(last.status_code) if last.status_code is not None else "error")
        rows.append([d.event_id, d.event_type + (f" (replay {d.replay})" if d.replay else ""),
                     urls.get(d.endpoint_id, d.endpoint_id), d.status, str(len(d.attempts)),
                     answer if last is None else f"{answer} {last.latency_ms:.0f}ms",
                     _when(d.next_attempt_at)])
    _table(["EVENT", "TYPE", "ENDPOINT", "STATUS", "ATTEMPTS", "LAST", "NEXT"], rows)


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "serve": serve, "callback-response": callback_response, "webhooks": webhooks,
}
