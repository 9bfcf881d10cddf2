"""Headless commands never load the dashboard's or the server's libraries (start-up time,
and a CLI that works where Textual cannot draw). Checked in a fresh interpreter, since this
test process has loaded everything already."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import json, sys
from tui_billing.cli import main
code = main(sys.argv[1:])
loaded = sorted({name.split(".")[0] for name in sys.modules} & {"textual", "aiohttp", "tinydb"})
print(json.dumps({"code": code, "loaded": loaded}))
"""


def _probe(*argv: str) -> dict[str, object]:
    run = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    result: dict[str, object] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    "command",
    [["invoices"], ["customers"], ["app"], ["events"], ["clock", "advance", "1h"]],
    ids=lambda c: " ".join(c),
)
def test_headless_commands_load_neither_textual_nor_aiohttp(tmp_path: Path, command: list[str]) -> None:
    db = str(tmp_path / "w.db")
    assert _probe("--db", db, "init", "--seed", "3")["code"] == 0
    result = _probe("--db", db, *command)
    assert result["code"] == 0
    assert result["loaded"] == ["tinydb"]  # the store's own library, and nothing of the front doors
