"""What people expect of a command-line tool: ``completion SHELL``, ``config`` (the
effective settings and where they come from), colour only where it is wanted."""

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

from .. import settings as user_settings
from .. import workspace
from .completion import SHELLS


def colour_wanted(stream: TextIO) -> bool:
    """Colour on a terminal only, and never when ``NO_COLOR`` is set (no-color.org) or
    the terminal is dumb."""
    return (
        not os.environ.get("NO_COLOR")
        and os.environ.get("TERM") != "dumb"
        and hasattr(stream, "isatty")
        and stream.isatty()
    )


def paint(text: str, code: str, stream: TextIO) -> str:
    """``text`` in SGR ``code`` (``1`` bold, ``31`` red…) when ``stream`` wants colour."""
    return f"\x1b[{code}m{text}\x1b[0m" if colour_wanted(stream) else text


def add_parsers(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    text = 'print a shell completion script: eval "$(tui-billing completion bash)"'
    p = sub.add_parser(
        "completion", help=text, description=text + " (zsh alike; fish: tui-billing completion fish | source)"
    )
    p.add_argument("shell", choices=list(SHELLS), metavar="SHELL", help=" | ".join(SHELLS))
    text = "show the effective settings and the settings file's path"
    p = sub.add_parser(
        "config",
        help=text,
        description=text + f" (${user_settings.ENV_VAR} names "
        "another file); keymap lists every dashboard binding id with its keys",
    )
    p.add_argument("--json", action="store_true")


def completion(args: argparse.Namespace) -> int:
    from . import build_parser

    print(SHELLS[args.shell](build_parser()), end="")
    return 0


def config(args: argparse.Namespace) -> int:
    from ..tui.app import binding_ids, check_keymap  # Textual knows the bindings

    current: user_settings.Settings = args.settings
    check_keymap(current.keymap)
    file = user_settings.path()
    path, _ = workspace.resolve(args.db)
    keymap = {binding_id: current.keymap.get(binding_id, keys) for binding_id, keys in binding_ids().items()}
    effective: dict[str, Any] = {
        "file": str(file),
        "file_exists": file.is_file(),
        "theme": current.theme or "billing-dark",
        "workspace": str(path),
        "server": current.server.model_dump(),
        "keymap": keymap,
    }
    if args.json:
        print(json.dumps(effective, indent=2))
        return 0
    out = sys.stdout

    def row(key: str, value: object, note: str = "") -> None:
        print(f"{paint(f'{key:<16}', '1', out)} {value}{paint(note, '2', out) if note else ''}")

    row("settings file", file, "" if effective["file_exists"] else "  (none: the defaults)")
    row("theme", effective["theme"], "" if current.theme else "  (default)")
    row("workspace", path, "  (--db, $TUI_BILLING_DB, the settings, else the user data directory)")
    row("server.host", current.server.host)
    row("server.port", current.server.port)
    row("server.token", current.server.token or "-")
    print(
        paint("keymap", "1", out)
        + paint("  binding id = keys ([keymap] in the settings file rebinds them)", "2", out)
    )
    width = max(map(len, keymap))
    for binding_id, keys in keymap.items():
        rebound = paint("  (rebound)", "2", out) if binding_id in current.keymap else ""
        print(f"  {binding_id:<{width}}  {keys}{rebound}")
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"completion": completion, "config": config}
