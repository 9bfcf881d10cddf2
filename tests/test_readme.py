"""The README's headless CLI walk-through, run verbatim: the ``sh`` block under "The
headless CLI", extracted from README.md, on a fresh temporary workspace; every command
must exit 0 and the invoice must pass through the states the block's comments name."""

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import PROJECT


def cli_block() -> str:
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## The headless CLI\n", 1)[1]
    match = re.search(r"^```sh\n(.*?)^```$", section, re.DOTALL | re.MULTILINE)
    assert match, "no sh block under The headless CLI"
    return match.group(1)


def test_the_readme_cli_block_runs_verbatim(tmp_path: Path) -> None:
    # The block runs from the repository root after the README's install: give it one in
    # a temp dir (this interpreter's tui-billing as .venv's, the project's fixtures).
    script = Path(sys.executable).with_name("tui-billing")
    assert script.exists(), f"{script} missing: install the project (pip install -e .)"
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "tui-billing").symlink_to(script)
    (tmp_path / "fixtures").symlink_to(PROJECT / "fixtures")
    env = {k: v for k, v in os.environ.items() if k != "TUI_BILLING_DB"}
    block = cli_block()
    commands = [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert len(commands) >= 10 and all(
        c.startswith(("tui-billing ", "id=$(tui-billing ", "export ")) for c in commands
    )

    traced = "trap 'echo \"README command failed ($?): $BASH_COMMAND\" >&2' ERR\n" + block
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", traced],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "walkthrough.db").exists()  # its own workspace, not the user's
    states = re.findall(r"^\S+ \S+ (\S+)$", run.stdout, re.MULTILINE)  # "ID NUMBER STATUS" lines
    assert states == [
        "draft.syncing",
        "draft.waiting_auto_approval",
        "issuing.syncing",
        "payment_processing.pending",
        "paid",
    ]
