"""Browser mode: the dashboard in a web page, served by textual-serve.

Every browser connection starts the dashboard (``python -m tui_billing --db PATH``) as a
subprocess driven through a websocket. Everything the page loads comes from this server:
textual-serve's page asks Google Fonts for its font, so the page is served with that link
replaced by the same font from textual-serve's own static files (no internet needed).
"""

import re
import shlex
import sys
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from textual_serve.server import Server

PAGE = "app_index.html"
REMOTE_FONT = re.compile(r"<link[^>]*fonts\.googleapis\.com[^>]*>", re.DOTALL)
LOCAL_FONT = """<style>
      @font-face { font-family: "Roboto Mono"; font-style: normal;
        src: url("{{ config.static.url }}fonts/RobotoMono-VariableFont_wght.ttf") format("truetype"); }
      @font-face { font-family: "Roboto Mono"; font-style: italic;
        src: url("{{ config.static.url }}fonts/RobotoMono-Italic-VariableFont_wght.ttf") format("truetype"); }
    </style>"""


def local_page(template: str) -> str:
    """textual-serve's page with its one remote resource (the Google Fonts stylesheet)
    replaced by the font it ships itself."""
    return REMOTE_FONT.sub(LOCAL_FONT, template)


class LocalServer(Server):
    """textual-serve's server, its page loading nothing from the internet."""

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        page = local_page((Path(self.templates_path) / PAGE).read_text(encoding="utf-8"))
        aiohttp_jinja2.setup(app, loader=jinja2.DictLoader({PAGE: page}))
        return app

    async def on_startup(self, app: web.Application) -> None:
        print(f"the dashboard on {self.public_url} (one browser tab at a time); Ctrl-C stops", flush=True)


def dashboard_command(workspace: Path) -> str:
    """The shell command that runs the dashboard on ``workspace`` with this Python."""
    return shlex.join([sys.executable, "-m", "tui_billing", "--db", str(workspace.resolve())])


def serve(workspace: Path, *, host: str, port: int, public_url: str | None = None) -> None:
    """Serve the dashboard on ``http://host:port`` until Ctrl-C; the page names its
    assets and websocket by ``public_url`` (default ``http://host:port``)."""
    LocalServer(
        dashboard_command(workspace),
        host=host,
        port=port,
        title="tui-billing",
        public_url=public_url.rstrip("/") if public_url else None,
    ).serve()
