"""CLI commands of the demo itself: ``tour`` plays a guided tour."""

import argparse
from collections.abc import Callable
from pathlib import Path

from ..domain.errors import InvalidValue
from ..service import tours

DEFAULT_TOUR = "hooks-and-callbacks"


def add_parsers(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register this module's commands on the CLI's subparsers."""
    text = ("play a guided tour on a temporary workspace (→ next step, ← back, esc ends); "
            "yours is untouched")
    p = sub.add_parser("tour", help=text, description=text)
    p.add_argument("name", nargs="?", metavar="NAME",
                   help=f"a packaged tour ({', '.join(tours.names())}; default {DEFAULT_TOUR})")
    p.add_argument("--file", metavar="PATH", help="play your own tour file (docs/tours.md)")
    p.add_argument("--list", action="store_true", help="list the packaged tours")
    p.add_argument("--check", action="store_true",
                   help="only play the tour headless to its end and say whether every step is allowed")


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
        BillingApp(player.service, tour=player).run()
    finally:
        player.close()
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"tour": tour}
