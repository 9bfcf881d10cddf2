"""``tui-billing certify``: grade a partner's integration against the simulator."""

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..cli.arguments import in_range
from ..domain.errors import InvalidValue

if TYPE_CHECKING:
    from .engine import Result


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    text = (
        "certify a partner's integration: serve the API on a fresh temporary workspace, send "
        "webhooks to --partner-url, inject production's faults and grade every answer and callback"
    )
    p = sub.add_parser("certify", help=text, description=text)
    p.add_argument("--partner-url", required=True, metavar="URL", help="your webhook endpoint")
    p.add_argument(
        "--secret", metavar="whsec_…", help="the channel's signing secret (default: a new one, printed first)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address the API binds (default 127.0.0.1)")
    p.add_argument(
        "--port", type=int, default=8888, help="port of the API your integration calls (default 8888)"
    )
    p.add_argument(
        "--suite",
        action="extend",
        nargs="+",
        default=[],
        metavar="NAME",
        help="run only these suites: hooks, webhooks, resilience, payments (opt-in); "
        "default: all but the opt-in ones",
    )
    p.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="time for each expected call (10)"
    )
    p.add_argument(
        "--grace",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="time to watch for an unwanted call after your endpoint answered (1)",
    )
    p.add_argument(
        "--delivery-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="time your endpoint has to answer a delivery (10, as `serve`)",
    )
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML for CI")
    p.add_argument(
        "--json", action="store_true", help="print the results as JSON (the scorecard goes to stderr)"
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show all the evidence (default: two lines per passed check, six per failed one)",
    )


def _seconds(value: float, option: str) -> float:
    if not 0 <= value <= 3600:
        raise InvalidValue(f"{option} must be between 0 and 3600 seconds, got {value:g}")
    return value


def certify(args: argparse.Namespace) -> int:
    from ..service.certify_report import save as save_report
    from ..workspace import certify_report_path
    from .engine import Options, Run  # aiohttp is imported only by the commands that serve
    from .report import dump_json, scorecard_line, summary, write_junit

    in_range(args.port, 0, 65535, "--port")
    options = Options(
        partner_url=args.partner_url,
        secret=args.secret,
        host=args.host,
        port=args.port,
        suites=args.suite,
        timeout=_seconds(args.timeout, "--timeout"),
        grace=_seconds(args.grace, "--grace"),
        delivery_timeout=_seconds(args.delivery_timeout, "--delivery-timeout"),
    )
    out = sys.stderr if args.json else sys.stdout

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    def ready(url: str, secret: str, generated: bool) -> None:
        if generated:
            say(f"secret {secret}  (configure your integration with it)")
            if sys.stdin.isatty():
                input("press Enter once your integration verifies with this secret… ")
        say(f"certifying {args.partner_url} · API on {url} · timeout {options.timeout:g} s")

    show: Callable[[Result], None] = lambda result: say(scorecard_line(result, verbose=args.verbose))  # noqa: E731
    if args.junit:
        Path(args.junit).parent.mkdir(parents=True, exist_ok=True)
    run = Run(options, on_ready=ready, on_result=show)
    results = asyncio.run(run.execute())
    say(summary(results))
    if args.junit:
        write_junit(results, Path(args.junit))
    document = dump_json(results, url=run.url, partner_url=args.partner_url, seed=run.seed)
    try:
        save_report(document, certify_report_path())
        say(f"report saved to {certify_report_path()} (the dashboard's Certify screen shows it)")
    except OSError as error:
        print(f"tui-billing: note: the report was not saved: {error}", file=sys.stderr)
    if args.json:
        print(document)
    return (
        0 if all(r.status != "failed" for r in results) and any(r.status == "passed" for r in results) else 1
    )


HANDLERS = {"certify": certify}
