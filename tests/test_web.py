"""Browser mode: ``tui-billing web`` serves the dashboard to headless Chromium (the system's,
driven by Playwright's Python API), which presses keys and sees an invoice move; the page
loads nothing but from the simulator itself.

Needs Debian's ``chromium`` package and the ``playwright`` package (``.ci/run`` installs
both); elsewhere the test skips, printing why.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui_billing.cli import main
from tui_billing.service import Service
from tui_billing.web import local_page

ANSI = re.compile(r"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")


def say(capsys: pytest.CaptureFixture[str], line: str) -> None:
    """Print in the test output even while pytest captures it."""
    with capsys.disabled():
        print(f"\n{line}")


def chromium() -> str | None:
    return (
        os.environ.get("TUI_BILLING_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``tui-billing web`` on a free loopback port over a new (demo) workspace."""
    port, db = free_port(), tmp_path / "web.db"
    env = {**os.environ, "TUI_BILLING_CONFIG": str(tmp_path / "no-settings.toml")}
    server = subprocess.Popen(
        [sys.executable, "-m", "tui_billing", "--db", str(db), "web", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(
                    f"tui-billing web did not start: {server.stderr.read().decode() if server.stderr else ''}"
                )
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}", db
    server.terminate()
    server.wait(timeout=10)


def test_the_page_loads_nothing_from_the_internet() -> None:
    template = '<link rel="stylesheet"\n  href="https://fonts.googleapis.com/css?family=Roboto%20Mono"\n/>'
    page = local_page(template)
    assert "googleapis" not in page and "fonts/RobotoMono-VariableFont_wght.ttf" in page


def test_a_busy_port_or_an_unreachable_address_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "web.db")
    with socket.socket() as busy:  # in a process of its own: serving takes over the signals
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        refused = subprocess.run(
            [sys.executable, "-m", "tui_billing", "--db", db, "web", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert refused.returncode == 1
    assert refused.stderr.endswith(f"cannot serve on 127.0.0.1:{port}: Address already in use\n")
    assert main(["--db", db, "web", "--host", "0.0.0.0"]) == 1
    assert capsys.readouterr().err == (
        "tui-billing: --host 0.0.0.0 needs --public-url: the page must name "
        "an address browsers can reach, e.g. http://my-laptop.local:8000\n"
    )


def test_a_browser_presses_keys_and_sees_an_invoice_move(
    capsys: pytest.CaptureFixture[str], web_server: tuple[str, Path]
) -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        say(capsys, "browser test skipped: the playwright package is missing (pip install playwright)")
        pytest.skip("the playwright package is missing (pip install playwright)")
    executable = chromium()
    if executable is None:
        say(capsys, "browser test skipped: no chromium on PATH (apt-get install -y chromium)")
        pytest.skip("no chromium on PATH (apt-get install -y chromium)")
    url, db = web_server
    received: list[str] = []
    outside: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        say(capsys, f"browser test: Chromium {browser.version} ({executable})")
        page = browser.new_page(viewport={"width": 1280, "height": 800})

        def only_local(route: object) -> None:
            target = route.request.url  # type: ignore[attr-defined]
            if target.startswith(url) or target.startswith(url.replace("http", "ws", 1)):
                route.continue_()  # type: ignore[attr-defined]
            else:
                outside.append(target)
                route.abort()  # type: ignore[attr-defined]

        page.route("**/*", only_local)
        page.on(
            "websocket",
            lambda ws: ws.on(
                "framereceived",
                lambda frame: received.append(
                    frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
                ),
            ),
        )

        def screen_says(text: str) -> None:
            deadline = time.monotonic() + 20
            while text not in ANSI.sub("", "".join(received)):
                assert time.monotonic() < deadline, f"the page never showed {text!r}"
                page.wait_for_timeout(100)

        page.goto(url)
        screen_says("External Invoicing (demo)")
        page.click("#terminal")
        # → → to the Awaiting payment pane, p for the payment chooser, enter reports paid.
        for key in ("ArrowRight", "ArrowRight", "p"):
            page.keyboard.press(key)
            page.wait_for_timeout(300)
        screen_says("Payment status")
        page.keyboard.press("Enter")
        screen_says("Payment paid: ")
        moved = re.search(r"Payment paid: (\S+) → paid", ANSI.sub("", "".join(received)))
        assert moved, "the toast names the invoice and its new state"
        browser.close()
    assert outside == []
    deadline = time.monotonic() + 10
    while True:  # the dashboard process ends with the page; then the workspace is free
        try:
            service = Service.open(db)
            break
        except Exception:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    try:
        assert next(r for r in service.invoice_rows() if r["number"] == moved.group(1))["status"] == "paid"
    finally:
        service.close()
