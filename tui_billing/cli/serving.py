"""CLI commands of the integration surface: ``serve``, ``callback-response``, ``webhooks …``.

``serve`` runs the HTTP API and the webhook dispatcher headless until Ctrl-C, printing
one line per call and per delivery attempt. ``webhooks`` is a view of the notification
channels and rules the API's ``/api/v1/notification`` manages: ``add`` makes a channel
and its invoice rules, ``list`` shows them; while no server runs, a resend or a rule's
test event is queued and sent at the next start.
"""

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, suppress
from datetime import datetime
from typing import TYPE_CHECKING

from .. import workspace
from ..domain.notifications import WEBHOOK_EVENTS, Attempt, Delivery, channel_json, rule_json
from ..service import Service
from ..service.commands import (
    AddChannel,
    RemoveChannel,
    Replay,
    SendTestEvent,
    SetCallbackResponse,
    SetDeliveryRetention,
)
from ..service.notifications import Webhooks
from .arguments import in_range, not_blank

if TYPE_CHECKING:
    from ..api import ApiCall

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_parsers(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register this module's commands on the CLI's subparsers."""
    text = "serve the OpenMeter-compatible HTTP API and send webhooks until Ctrl-C"
    p = sub.add_parser("serve", help=text, description=text)
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    p.add_argument("--port", type=int, default=8888, help="port (default 8888; 0 picks a free one)")
    p.add_argument("--token", metavar="T", help="require Authorization: Bearer T on every request")
    p.add_argument(
        "--callback-response",
        choices=["invoice", "no_content"],
        help="answer the three callbacks with 200 + invoice (OpenMeter's server) or 204 "
        "(its OpenAPI spec and SDK); default: the workspace setting",
    )

    text = (
        "show or set how the API answers successful callbacks: invoice (200 with the "
        "invoice, like OpenMeter's server) or no_content (204, like its spec and SDK)"
    )
    p = sub.add_parser("callback-response", help=text, description=text)
    p.add_argument("mode", nargs="?", choices=["invoice", "no_content"], metavar="invoice|no_content")

    text = (
        "manage webhook channels and their invoice rules (OpenMeter's notification API) "
        "and read the delivery log"
    )
    p = sub.add_parser("webhooks", help=text, description=text)
    actions = p.add_subparsers(dest="webhooks_action", metavar="ACTION")
    add = actions.add_parser(
        "add", help="add a channel and a rule per event type; prints their ids and the signing secret"
    )
    add.add_argument("url", metavar="URL")
    add.add_argument("--secret", metavar="S", help="whsec_… signing secret (default: a new random one)")
    add.add_argument(
        "--events",
        metavar="TYPE,...",
        help=f"rules for these event types ({', '.join(WEBHOOK_EVENTS)}); default: both",
    )
    actions.add_parser("list", help="channels with their secrets and rules (the default)").add_argument(
        "--json", action="store_true", help="channels and rules as the notification API shows them"
    )
    actions.add_parser(
        "remove",
        help="delete a channel and take it out of its rules (a rule left "
        "without channels goes too); pending deliveries are cancelled",
    ).add_argument("id", metavar="CHANNEL_ID")
    actions.add_parser(
        "test", help="send a rule's test event (the newest invoice) to its channels"
    ).add_argument("rule", metavar="RULE_ID")
    p = actions.add_parser("deliveries", help="the delivery log, oldest first")
    p.add_argument(
        "--event", metavar="ID", help="only this notification event's (or invoice event's) deliveries"
    )
    p.add_argument("--json", action="store_true", help="deliveries with every attempt")
    actions.add_parser(
        "replay", help="resend a notification event (or every one of an invoice event), same webhook id"
    ).add_argument("event", metavar="EVENT_ID")
    actions.add_parser(
        "keep", help="show or set how many deliveries each channel keeps (older finished ones are pruned)"
    ).add_argument("keep", metavar="N", nargs="?", type=int)


def _service(args: argparse.Namespace, *, read_only: bool = False) -> AbstractContextManager[Service]:
    return workspace.opened(args.db, read_only=read_only)


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone().strftime("%H:%M:%S")


def _table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    for row in [headers, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


# --- serve -----------------------------------------------------------------------------------
def serve(args: argparse.Namespace) -> int:
    in_range(args.port, 0, 65535, "--port")
    not_blank(args.host, "--host", "it would listen on every interface")
    not_blank(args.token, "--token", "leave it out to serve without a token")
    created = not workspace.resolve(args.db)[0].exists()
    with workspace.opened(args.db, create_demo=True) as service:
        if created:
            print(f"created the demo workspace {service.path}", flush=True)
        return asyncio.run(_serve(service, args))


async def _serve(service: Service, args: argparse.Namespace) -> int:
    from ..api import start_serving  # aiohttp is imported only by the commands that serve

    urls = {c.id: c.url for c in Webhooks(service).channels(include_deleted=True)}
    try:
        serving = await start_serving(
            service,
            host=args.host,
            port=args.port,
            token=args.token,
            callback_response=args.callback_response,
            on_call=_print_call,
            on_attempt=_attempt_printer(service, urls),
        )
    except OSError as error:
        print(
            f"tui-billing: cannot listen on {args.host}:{args.port}: {error.strerror or error}",
            file=sys.stderr,
        )
        return 1
    mode = serving.api.callback_response
    print(f"tui-billing API on {serving.url}  (workspace {service.path})")
    print(
        f"callbacks answer {'200 with the invoice' if mode == 'invoice' else '204 No Content'} "
        f"({mode}); {'bearer token required' if args.token else 'no token'}; "
        f"{sum(c.active for c in Webhooks(service).channels())} webhook channel(s). Ctrl-C stops.",
        flush=True,
    )
    if warning := exposure_warning(args.host, args.token):
        print(warning, file=sys.stderr)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError, RuntimeError):  # Windows: Ctrl-C is KeyboardInterrupt
            loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await serving.stop()
        print("stopped", flush=True)
    return 0


def exposure_warning(host: str, token: str | None) -> str | None:
    """The warning to show when a server without a token listens beyond this machine."""
    if host in LOOPBACK or token:
        return None
    return (
        "warning: not bound to loopback and no --token: anyone who reaches this address "
        "can change the workspace"
    )


def _print_call(call: "ApiCall") -> None:
    detail = f"  {call.detail}" if call.detail else ""
    print(
        f"{_when(call.at)}  {call.method} {call.path} → {call.status} ({call.duration_ms:.1f} ms){detail}",
        flush=True,
    )


def _attempt_printer(service: Service, urls: dict[str, str]) -> Callable[[Delivery, Attempt], None]:
    def show(delivery: Delivery, attempt: Attempt) -> None:
        answer = str(attempt.status_code) if attempt.status_code is not None else attempt.response
        outcome = {"succeeded": "delivered", "failed": "gave up"}.get(
            delivery.status, f"retry at {_when(attempt.next_retry_at)}"
        )
        if delivery.channel_id not in urls:  # a channel made while serving
            urls.update({c.id: c.url for c in Webhooks(service).channels()})
        url = urls.get(delivery.channel_id, delivery.channel_id)
        print(
            f"{_when(attempt.at)}  webhook {delivery.event_type} {delivery.notification_id} → {url} "
            f"#{attempt.number}: {answer} ({attempt.latency_ms:.1f} ms), {outcome}",
            flush=True,
        )

    return show


def callback_response(args: argparse.Namespace) -> int:
    with _service(args, read_only=args.mode is None) as service:
        if args.mode:
            service.execute(SetCallbackResponse(args.mode))
        print(service.workspace().callback_response)
    return 0


# --- webhooks --------------------------------------------------------------------------------
def webhooks(args: argparse.Namespace) -> int:
    action = args.webhooks_action or "list"
    with _service(args, read_only=action in ("list", "deliveries")) as service:
        hooks = Webhooks(service)
        if action == "add":
            channel, rules = service.execute(
                AddChannel(args.url, event_types=(args.events or "").split(","), secret=args.secret)
            )
            print(f"added channel {channel.id} → {channel.url}")
            print(f"secret {channel.signing_secret}")
            for rule in rules:
                print(f"rule {rule.id} {rule.type}")
        elif action == "list":
            _list(hooks, getattr(args, "json", False))
        elif action == "remove":
            channel = service.execute(RemoveChannel(args.id))
            print(f"removed channel {channel.id} → {channel.url}")
        elif action == "test":
            notification = service.execute(SendTestEvent(args.rule))
            print(
                f"queued test event {notification.id} ({notification.type}, invoice "
                f"{notification.invoice_number}); it is sent while `tui-billing serve` or the dashboard runs"
            )
        elif action == "deliveries":
            _deliveries(hooks, args.event, args.json)
        elif action == "keep":
            ws = (
                service.workspace() if args.keep is None else service.execute(SetDeliveryRetention(args.keep))
            )
            print(f"each channel keeps the newest {ws.delivery_retention} deliveries (pending ones always)")
        else:
            created = service.execute(Replay(args.event))
            print(
                f"queued {len(created)} deliver{'y' if len(created) == 1 else 'ies'} of {args.event}; "
                "they are sent while `tui-billing serve` or the dashboard runs"
            )
    return 0


def _list(hooks: Webhooks, as_json: bool) -> None:
    channels, rules = hooks.channels(), hooks.rules()
    if as_json:
        print(
            json.dumps(
                [
                    {**channel_json(c), "rules": [rule_json(r) for r in rules if c.id in r.channels]}
                    for c in channels
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    counts: dict[tuple[str, str], int] = {}
    for delivery in hooks.deliveries():
        key = (delivery.channel_id, delivery.status)
        counts[key] = counts.get(key, 0) + 1
    _table(
        ["CHANNEL", "URL", "SECRET", "RULES", "SUCCEEDED", "PENDING", "FAILED"],
        [
            [
                c.id + (" (disabled)" if c.disabled else ""),
                c.url,
                c.signing_secret,
                ",".join(
                    f"{r.type}:{r.id}" + ("(disabled)" if r.disabled else "")
                    for r in rules
                    if c.id in r.channels
                )
                or "(no rule: sends nothing)",
                *(str(counts.get((c.id, status), 0)) for status in ("succeeded", "pending", "failed")),
            ]
            for c in channels
        ],
    )


def _deliveries(hooks: Webhooks, event_id: str | None, as_json: bool) -> None:
    deliveries = hooks.deliveries(event_id)
    urls = {c.id: c.url for c in hooks.channels(include_deleted=True)}
    if as_json:
        print(
            json.dumps(
                [{**d.model_dump(mode="json"), "channel_url": urls.get(d.channel_id)} for d in deliveries],
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    rows = []
    for d in deliveries:
        last = d.attempts[-1] if d.attempts else None
        answer = "-" if last is None else (str(last.status_code) if last.status_code is not None else "error")
        rows.append(
            [
                d.notification_id,
                d.event_type + (f" (resend {d.replay})" if d.replay else ""),
                urls.get(d.channel_id, d.channel_id),
                d.status,
                str(len(d.attempts)),
                answer if last is None else f"{answer} {last.latency_ms:.0f}ms",
                _when(d.next_attempt_at),
            ]
        )
    _table(["EVENT", "TYPE", "CHANNEL", "STATUS", "ATTEMPTS", "LAST", "NEXT"], rows)


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "serve": serve,
    "callback-response": callback_response,
    "webhooks": webhooks,
}
