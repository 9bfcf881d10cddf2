"""The last certify run: every check with its result and time, the highlighted one's
evidence, and under a failure what production does and why it matters.

``tui-billing certify`` saves its report (the ``--json`` document) where this screen reads
it; the screen never loads the certify package, which serves HTTP.
"""

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Static

from ...domain.errors import InvalidValue
from ...service.certify_report import Check, Report, load
from ..widgets.bars import wrap
from ..widgets.key_bar import KeyBar
from ..widgets.row_list import Column, ListHeader, Row, RowList
from .api_screen import Detail, _clock

MARKS = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}
TONES = {"passed": "good", "failed": "alert", "skipped": "muted"}
STYLES = {"passed": "bold $success", "failed": "bold $error", "skipped": "$text-muted"}
HOW_TO = "tui-billing certify --partner-url URL [--secret whsec_…]"


class CertifyScreen(Screen[None]):
    HORIZONTAL_BREAKPOINTS: list[tuple[int, str]] | None = [(0, "-narrow"), (120, "-wide")]  # noqa: RUF012 (a Textual instance attribute)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,K", "app.pop_screen", "Back", id="certify.back"),
        Binding("r", "reload", "Reload", id="certify.reload"),
    ]

    def __init__(self, path: Path) -> None:
        """``path``: where ``tui-billing certify`` saves its report."""
        super().__init__()
        self.path = path
        self.report: Report | None = None
        self.problem = ""
        """Why the file at ``path`` is no report (shown instead of one)."""

    def compose(self) -> ComposeResult:
        columns = [
            Column("Check", lambda r: r["name"]),
            Column("Result", lambda r: MARKS[r["status"]], 6, tone=lambda r: TONES[r["status"]]),
            Column("Time", lambda r: f"{r['seconds']:.2f}s", 7, right=True),
        ]
        yield Static(id="certify-summary")
        with Container(id="certify-body"):
            with Container(id="certify-list-pane"):
                yield ListHeader(columns)
                yield RowList(columns, empty="no certify run yet", id="certify-checks")
            yield Detail(id="certify-detail")
        yield KeyBar()

    def on_mount(self) -> None:
        self.reload()
        self.query_one(RowList).focus()

    def on_resize(self) -> None:
        self._show_summary()

    def reload(self) -> None:
        """Read the saved report again (a run may have finished meanwhile)."""
        try:
            self.report, self.problem = load(self.path), ""
        except InvalidValue as error:
            self.report, self.problem = None, str(error)
        checks = self.report.checks if self.report else []
        table = self.query_one(RowList)
        first_failure = next((c.name for c in checks if c.status == "failed"), None)
        select = table.current["id"] if table.current else first_failure
        rows = [
            {"id": c.name, "name": c.name, "status": c.status, "seconds": c.seconds, "result": c}
            for c in checks
        ]
        table.set_rows(rows, select=select)
        self._show_summary()
        self._show_detail(table.current)

    def _show_summary(self) -> None:
        """The run in one or two lines: verdict, counts, partner, API, when it finished."""
        summary = self.query_one("#certify-summary", Static)
        parts = [Content.styled("Certify", "bold $accent")]
        report = self.report
        if report is None:
            parts.append(
                Content.styled(self.problem, "bold $error") if self.problem else Content("no certify run yet")
            )
        else:
            parts.append(
                Content.styled("✔ certified", "bold $success")
                if report.passed
                else Content.styled("✖ not certified", "bold $error")
            )
            counts = {status: report.count(status) for status in MARKS}
            parts.append(
                Content(" · ").join(
                    Content.styled(f"{count} {status}", STYLES[status] if count else "")
                    for status, count in counts.items()
                )
            )
            parts.append(Content.assemble(("partner ", "$text-muted"), report.partner_url or "?"))
            parts.append(Content.assemble(("API ", "$text-muted"), report.api))
            if report.finished_at is not None:
                parts.append(Content.assemble(("finished ", "$text-muted"), _clock(report.finished_at)))
        summary.update(wrap(parts, max(summary.content_size.width, 40)))

    def on_row_list_highlighted(self, event: RowList.Highlighted) -> None:
        self._show_detail(event.row)

    def _show_detail(self, row: Row | None) -> None:
        detail = self.query_one(Detail)
        if row is None:
            detail.show(self._how_to())
            return
        check: Check = row["result"]
        lines = [
            Content.assemble((check.name, "bold"), "  ", (MARKS[check.status], STYLES[check.status])),
            Content.styled(f"{check.title} · {check.seconds:.2f} s", "$text-muted"),
        ]
        if check.message:
            mark = "✗ " if check.status == "failed" else "why skipped: "
            lines.append(Content.styled(f"{mark}{check.message}", STYLES[check.status]))
        if check.status == "failed":
            lines += [
                Content(""),
                Content.styled("What production does", "bold $accent"),
                Content(check.production),
                Content.styled("Why it matters", "bold $accent"),
                Content(check.why),
            ]
        if check.evidence:
            lines += [Content(""), Content.styled("Evidence", "bold $accent")]
            lines += [Content(f"· {line}") for line in check.evidence]
        detail.show(Content("\n").join(lines))

    def _how_to(self) -> Content:
        """What to do when there is no report to show."""
        return Content("\n").join(
            [
                Content.styled(
                    self.problem or "No certify run yet.", "bold $error" if self.problem else "bold"
                ),
                Content(""),
                Content("Grade your integration against the simulator:"),
                Content.styled(f"  {HOW_TO}", "bold $accent"),
                Content(""),
                Content.styled(
                    f"Every run saves its report to {self.path}; it shows here (r reloads).", "$text-muted"
                ),
            ]
        )

    def action_reload(self) -> None:
        self.reload()
