"""Regenerate the README's screenshots: the snapshot tests' shots, written to screenshots/.

Run from the project root::

    .venv/bin/python tests/export_screenshots.py            # every shot
    .venv/bin/python tests/export_screenshots.py help clock-form

Each shot runs on a fresh demo workspace in a temporary directory, through the same
deterministic app (``tui_support``) and the same shot definitions (``tui_flows_def``) as
``test_tui_snapshots.py``, so the pictures never drift from what the tests check.
"""

import asyncio
import sys
import tempfile
from pathlib import Path

from tui_flows_def import SHOTS, Shot  # this script's folder, tests/, is first on sys.path
from tui_support import make_app, open_demo

OUT = Path(__file__).resolve().parents[1] / "screenshots"


async def export(shot: Shot, directory: Path) -> str:
    """The SVG of ``shot``, taken on a fresh demo workspace in ``directory``."""
    service = open_demo(directory / f"{shot.name}.db")
    try:
        app = make_app(service, theme=shot.theme, serve=shot.serve)
        async with app.run_test(size=shot.size, notifications=True) as pilot:
            await shot.drive(pilot)
            await pilot.wait_for_scheduled_animations()
            await pilot.pause()
            return app.export_screenshot(title=app.title, simplify=True)
    finally:
        service.close()


def main(names: list[str]) -> int:
    unknown = set(names) - {shot.name for shot in SHOTS}
    if unknown:
        print(f"unknown shots: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tui-billing-shots-") as directory:
        for shot in SHOTS:
            if names and shot.name not in names:
                continue
            path = OUT / f"{shot.name}.svg"
            path.write_text(asyncio.run(export(shot, Path(directory))), encoding="utf-8")
            print(f"{path.relative_to(OUT.parent)}  {shot.title}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
