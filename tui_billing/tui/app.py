"""The Textual application: wires the service, the dashboard, the command palette and,
with ``--serve``, the HTTP API and webhook dispatcher on the same event loop."""

import logging
import os
import subprocess
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.actions import ActionParseResult
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.dom import DOMNode
from textual.logging import TextualHandler
from textual.screen import Screen
from textual.timer import Timer

from .. import settings
from ..domain.errors import BillingError, InvalidValue
from ..domain.models import Invoice
from ..service import ClockReport, Service, scenario, tours
from ..workspace import DEFAULT_SCENARIO, certify_report_path
from .dialogs.demo import ConfirmReset, TourChooser
from .screens.dashboard import Dashboard
from .screens.tour import TourDashboard
from .themes import DEFAULT as DEFAULT_THEME
from .themes import THEMES
from .widgets.activity import operation

if TYPE_CHECKING:
    from ..api import ApiCall, Serving

REFRESH_SECONDS = 0.2
MAX_CALL_TOASTS = 3
"""At most this many toasts per redraw: a burst of calls must not bury the screen."""
log = logging.getLogger(__name__)


@cache
def binding_ids() -> dict[str, str]:
    """Every dashboard binding id (the keymap's keys) and its default keys."""
    return {
        b.id: b.key
        for b in [*Dashboard.BINDINGS, *TourDashboard.TOUR_BINDINGS]
        if isinstance(b, Binding) and b.id
    }


def check_keymap(keymap: Mapping[str, str]) -> None:
    """Refuse a keymap that names no dashboard binding (a typo would silently do nothing)."""
    known = binding_ids()
    for binding_id in keymap:
        if binding_id not in known:
            raise InvalidValue(
                f"settings {settings.path()}: keymap.{binding_id}: no dashboard binding has "
                "this id (tui-billing config lists them)"
            )


StartServing = Callable[..., Awaitable["Serving"]]
"""Starts the API and the webhook dispatcher on the running loop (``api.start_serving``)."""


@dataclass(frozen=True)
class ServeOptions:
    """How to serve the API beside the dashboard. ``start`` is handed in by the front door
    that composes the app (the CLI): the dashboard never imports the API package."""

    start: StartServing
    host: str = "127.0.0.1"
    port: int = 8888
    token: str | None = None
    callback_response: str | None = None


class BillingApp(App[None]):
    """tui-billing's dashboard over one open workspace (the caller opens and closes it)."""

    CSS_PATH = "app.tcss"
    TITLE = "tui-billing"

    def __init__(
        self,
        service: Service,
        *,
        theme: str | None = None,
        serve: ServeOptions | None = None,
        first_start: bool = False,
        tour: tours.TourPlayer | None = None,
        keymap: Mapping[str, str] | None = None,
        certify_report: Path | None = None,
    ) -> None:
        """``first_start``: the workspace was just created (the dashboard says where).
        ``tour``: play this tour (on its own workspace, ``service``) and end with it.
        ``keymap``: binding id → keys, rebinding the dashboard's keys (the settings file's).
        ``certify_report``: the certify report the Certify screen shows (default: the one
        every ``tui-billing certify`` run saves)."""
        super().__init__()
        self.certify_report = certify_report or certify_report_path()
        self.keymap = dict(keymap or {})
        check_keymap(self.keymap)
        self.set_keymap(self.keymap)
        self.service = service
        self.tour = tour
        self.first_start = first_start
        for accessible in THEMES.values():
            self.register_theme(accessible)
        self.theme = DEFAULT_THEME
        if theme:
            if theme not in self.available_themes:
                raise InvalidValue(
                    f"no theme {theme!r}; try one of {', '.join(sorted(self.available_themes))}"
                )
            self.theme = theme
        self.serve = serve
        self.serving: Serving | None = None
        self.calls: deque[ApiCall] = deque(maxlen=500)
        """The most recent API calls, newest last, for the integration screen."""
        self._refresh_timer: Timer | None = None
        self._outside_change = False
        self._outside_calls: list[ApiCall] = []
        """Calls that changed an invoice since the last redraw: each gets a toast."""
        self._new_calls = False

    async def on_mount(self) -> None:
        # Log records (a failed command, the API's errors) must not be printed over the screen.
        logging.basicConfig(handlers=[TextualHandler()], level=logging.WARNING, force=True)
        self.dashboard = Dashboard(self.service) if self.tour is None else TourDashboard(self.tour)
        await self.push_screen(self.dashboard)
        if self.first_start:
            self.notify(
                f"{self.service.path}: everything you do is saved there "
                "(--db PATH or $TUI_BILLING_DB picks another)",
                title="New demo workspace",
                timeout=15,
            )
        if self.serve is not None:
            await self._start_serving(self.serve)

    async def _start_serving(self, options: ServeOptions) -> None:
        try:
            self.serving = await options.start(
                self.service,
                host=options.host,
                port=options.port,
                token=options.token,
                callback_response=options.callback_response,
                on_change=self._changed_outside,
                on_call=self._called,
            )
        except OSError as error:
            # The errno's own words ("Address already in use"): aiohttp's message is too long.
            why = f"{options.host}:{options.port}: {os.strerror(error.errno) if error.errno else error}"
            self.notify(f"cannot serve on {why}", title="API not started", severity="error", timeout=10)
            self.dashboard.api_problem = f"API not running: {why}"  # stays in the app bar
            self.dashboard.reload()
            return
        if self._refresh_timer is None:  # a restart (after a reset) keeps the one timer
            self._refresh_timer = self.set_interval(REFRESH_SECONDS, self._refresh_if_changed)
        self.dashboard.api_status = self.api_status()
        self.dashboard.reload()

    def api_status(self) -> str:
        """What the app bar says of the API: its URL and how callbacks are answered."""
        if self.serving is None:
            return ""
        mode = self.serving.api.callback_response
        answer = "200 + invoice" if mode == "invoice" else "204"
        token = " · token" if self.serving.api.token else ""
        return f"API {self.serving.url} · callbacks → {answer}{token}"

    def _changed_outside(self) -> None:
        self._outside_change = True

    def _called(self, call: "ApiCall") -> None:
        self.calls.append(call)
        self._new_calls = True
        if call.changed and call.invoice_id:
            self._outside_calls.append(call)

    def _refresh_if_changed(self) -> None:
        """Calls and deliveries can come by the hundred a second: redraw at most 5 times.
        A call that changed an invoice is shown: a toast names the operation and the
        transition, and the dashboard follows the invoice (the last one changed). Any new
        call shows in the activity strip and the API screen."""
        new_calls, self._new_calls = self._new_calls, False
        if new_calls and not self._outside_change:
            self.dashboard.show_activity()
            if hasattr(self.screen, "reload") and self.screen is not self.dashboard:
                self.screen.reload()
        if self._outside_change:
            self._outside_change = False
            operations: dict[str, list[str]] = {}  # invoice id → what was done to it, in order
            for call in self._outside_calls:
                operations.setdefault(call.invoice_id or "", []).append(operation(call))
            self._outside_calls = []
            before = {invoice_id: self.dashboard.shown_as(invoice_id) for invoice_id in operations}
            self.dashboard.reload(follow=next(reversed(operations), None))
            for invoice_id, done in list(operations.items())[-MAX_CALL_TOASTS:]:
                self._announce(invoice_id, " + ".join(done), before[invoice_id])
            if hasattr(self.screen, "reload") and self.screen is not self.dashboard:
                self.screen.reload()

    def _announce(self, invoice_id: str, done: str, before: tuple[str, str] | None) -> None:
        """A toast for outside calls that changed an invoice: "draft synchronized ·
        DRAFT-… : draft.syncing → draft.waiting_auto_approval"."""
        after = self.dashboard.shown_as(invoice_id)
        if after is None:
            return
        (was_number, was), (number, status) = before or after, after
        renamed = f" (now {number})" if number != was_number else ""
        move = f"{was} → {status}" if was != status else f"still {status}"
        self.notify(f"{done} · {was_number}{renamed}: {move}", title="API call")

    def run_command(
        self, done: str, command: Callable[[], Any], *, refused: Callable[[str], None] | None = None
    ) -> tuple[bool, Any]:
        """Run a service command for a screen and say how it went: refused (why; nothing
        changed), a bug (nothing was saved: the service raises before its commit), or done
        (with what the result says). Its webhooks then leave at once. Returns (ok, result).
        ``refused``: where a form shows the refusal inline instead of a toast."""
        try:
            result = command()
        except BillingError as error:
            if refused is not None:
                refused(str(error))
            else:
                self.notify(str(error), title="Refused", severity="error")
            return False, None
        except Exception as error:  # a bug must not end a demo
            log.exception("command failed")
            self.notify(f"unexpected error, nothing was saved: {error!r}", title="Error", severity="error")
            return False, None
        if isinstance(result, Invoice):
            done = f"{done}: {result.number} → {result.status.value}"
        elif isinstance(result, ClockReport):
            done = f"{done}: {len(result.created)} invoices created, {len(result.advanced)} advanced"
        self.notify(done, title="Done")
        if self.serving is not None:
            self.serving.notify()
        return True, result

    def copy_text(self, text: str, what: str) -> None:
        """Copy ``text`` and say honestly where it went. Textual's copy is an OSC 52
        escape that the terminal may ignore; inside tmux, which passes it on only with
        set-clipboard on, the text also goes to tmux's paste buffer."""
        self.copy_to_clipboard(text)
        if not os.environ.get("TMUX"):
            self.notify(
                f"{what} sent to the terminal's clipboard (OSC 52; a terminal without it ignores it)",
                title="Copied",
            )
            return
        try:
            subprocess.run(
                ["tmux", "load-buffer", "-"], input=text.encode(), check=True, capture_output=True, timeout=5
            )
        except (OSError, subprocess.SubprocessError) as error:
            self.notify(
                f"inside tmux, which did not take the copy ({error}): {what} reaches your "
                "clipboard only with tmux's set-clipboard on",
                title="Maybe not copied",
                severity="warning",
            )
            return
        self.notify(
            f"{what} copied to tmux's paste buffer (prefix ] pastes it; your clipboard "
            "too if tmux's set-clipboard is on)",
            title="Copied",
        )

    # --- the demo itself: guided tours, reset -------------------------------------------------
    def choose_tour(self) -> None:
        """Pick a packaged tour and play it over the dashboard (on its own workspace)."""
        try:
            titles = {name: tours.load(tours.find(name)).title for name in tours.names()}
        except BillingError as error:
            self.notify(str(error), title="Refused", severity="error")
            return
        self.push_screen(TourChooser(titles), lambda name: self.start_tour(name) if name else None)

    def start_tour(self, name: str) -> None:
        try:
            tour = tours.load(tours.find(name))
            tours.check(tour)
            player = tours.TourPlayer(tour)
        except BillingError as error:
            self.notify(str(error), title="Refused", severity="error")
            return
        self.push_screen(TourDashboard(player))

    def end_tour(self, screen: TourDashboard) -> None:
        """Leave a tour: the tour started from the command line ends the app; one started
        from the dashboard returns to it and removes its workspace."""
        if screen is self.dashboard:
            self.exit()
            return
        self.pop_screen()
        screen.player.close()
        self.dashboard.reload()

    def confirm_reset(self) -> None:
        """Ask, then rebuild the workspace from the packaged demo scenario."""

        async def confirmed(yes: bool | None) -> None:
            if yes:
                await self.reset_demo()

        self.push_screen(ConfirmReset(self.service.path), confirmed)

    async def reset_demo(self) -> None:
        serve = self.serve if self.serving is not None else None
        if self.serving is not None:
            await self.serving.stop()
            self.serving = None
        path = self.service.path
        plan: scenario.Scenario = scenario.load(scenario.bundled(DEFAULT_SCENARIO))
        self.service.close()
        try:
            self.service = scenario.build(path, plan, force=True)
        except BillingError as error:
            self.notify(f"{error}; reopening the workspace as it was", title="Reset failed", severity="error")
            self.service = Service.open(path)
        self.dashboard.service = self.service
        self.dashboard.selected = None
        self.dashboard.reload()
        self.notify(f"{path}: rebuilt from the demo scenario", title="Demo reset")
        if serve is not None:
            await self._start_serving(serve)

    def key_for(self, binding_id: str) -> str:
        """The first key of dashboard binding ``binding_id``, as the keymap may rebind it."""
        return self.keymap.get(binding_id, binding_ids()[binding_id]).split(",")[0]

    def keys_of(self, binding: Binding) -> str:
        """A binding's keys, as the keymap may have rebound them (comma-separated)."""
        return self.keymap.get(binding.id, binding.key) if binding.id else binding.key

    async def action_quit(self) -> None:
        if self.serving is not None:
            await self.serving.stop()
            self.serving = None
        for screen in self.screen_stack:  # a tour played over the dashboard: its workspace goes
            if isinstance(screen, TourDashboard) and screen is not self.dashboard:
                screen.player.close()
        self.exit()

    async def run_action(
        self,
        action: "str | ActionParseResult",
        default_namespace: DOMNode | None = None,
        namespaces: Mapping[str, DOMNode] | None = None,
    ) -> bool:
        """A dashboard action that is not possible now (its key dimmed) says why instead
        of doing nothing; from a key, the palette or a click alike."""
        if isinstance(default_namespace, Dashboard) and isinstance(action, str):
            name = action.split("(", 1)[0]
            if default_namespace.check_action(name, ()) is None:
                default_namespace.explain(name)
                return True
        return await super().run_action(action, default_namespace, namespaces)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The palette lists every dashboard action by name with its key; those not
        possible now are marked with the reason (choosing one says it again)."""
        yield from super().get_system_commands(screen)
        if isinstance(screen, Dashboard):
            for binding in screen.BINDINGS:
                if not isinstance(binding, Binding) or binding.action.startswith("app."):
                    continue
                keys = " ".join(
                    self.get_key_display(Binding(k.strip(), "")) for k in self.keys_of(binding).split(",")
                )
                refusal = screen.refusal(binding.action.split("(", 1)[0])
                help_text = f"key {keys}" + (
                    f" · not possible now: {refusal.splitlines()[0]}" if refusal else ""
                )
                yield SystemCommand(
                    binding.description, help_text, lambda a=binding.action: screen.run_action(a)
                )
