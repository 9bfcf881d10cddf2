"""CLI commands of the demo itself: ``tour`` plays a guided tour, ``web`` serves the
dashboard in a browser."""

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from .. import workspace
from ..domain.errors import InvalidValue
from ..service import tours

DEFAULT_TOUR = "hooks-and-callbacks"


def add_parsers(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register this module's commands on the CLI's subparsers."""
    text = "play a guided tour on a temporary workspace (→ next step, ← back, esc ends); yours is untouched"
    p = sub.add_parser("tour", help=text, description=text)
    p.add_argument(
        "name",
        nargs="?",
        metavar="NAME",
        help=f"a packaged tour ({', '.join(tours.names())}; default {DEFAULT_TOUR})",
    )
    p.add_argument("--file", metavar="PATH", help="play your own tour file (docs/tours.md)")
    p.add_argument("--list", action="store_true", help="list the packaged tours")
    p.add_argument(
        "--check",
        action="store_true",
        help="only play the tour headless to its end and say whether every step is allowed",
    )

    text = (
        "serve the dashboard in a web browser until Ctrl-C (one browser tab at a time: "
        "each runs the dashboard on the workspace)"
    )
    p = sub.add_parser("web", help=text, description=text)
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--public-url",
        metavar="URL",
        help="the address browsers reach this server at, when it is not http://HOST:PORT "
        "(e.g. with --host 0.0.0.0: http://my-laptop.local:8000)",
    )


def tour(args: argparse.Namespace) -> int:
    if args.list:
        for name in tours.names():
            print(f"{name:<22} {tours.load(tours.find(name)).title}")
        return 0
    if args.file and args.name:
        raise InvalidValue("give a tour NAME or --file PATH, not both")
    path = Path(args.file) if args.file else tours.find(args.name or DEFAULT_TOUR)
    plan = tours.load(path)
    steps = tours.check(plan)
    if args.check:
        print(f"{path}: {steps} steps, each allowed where the steps before it leave the workspace")
        return 0
    from ..tui.app import BillingApp  # Textual loads only for the dashboard

    player = tours.TourPlayer(plan)
    try:
        BillingApp(player.service, tour=player, theme=args.settings.theme, keymap=args.settings.keymap).run()
    finally:
        player.close()
    return 0


def web(args: argparse.Namespace) -> int:
    from .. import web as browser  # textual-serve loads only for this command

    path, _ = workspace.resolve(args.db)
    if args.public_url is None and args.host in ("0.0.0.0", "::"):
        raise InvalidValue(
            f"--host {args.host} needs --public-url: the page must name an address "
            "browsers can reach, e.g. http://my-laptop.local:8000"
        )
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"note: serving on {args.host}: whoever reaches it drives the dashboard", file=sys.stderr)
    try:
        browser.serve(path, host=args.host, port=args.port, public_url=args.public_url)
    except OSError as error:
        why = os.strerror(error.errno) if error.errno else str(error)
        raise InvalidValue(f"cannot serve on {args.host}:{args.port}: {why}") from None
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"tour": tour, "web": web}
