"""WCAG AA contrast of the dashboard's themes, measured on what the screen draws: each
checked text's foreground and background as rendered from app.tcss and the theme's CSS
variables (reverse and dim resolved as Textual resolves them)."""

from collections.abc import Iterator

import pytest
from rich.color import Color
from rich.segment import Segment
from textual.geometry import Region
from textual.widget import Widget
from tui_flows_def import dashboard
from tui_support import make_app, pilot_test

from tui_billing.service import Service
from tui_billing.tui.screens.help import Help
from tui_billing.tui.themes import DEFAULT, THEMES
from tui_billing.tui.widgets.bars import AppBar, LaneBar
from tui_billing.tui.widgets.key_bar import KeyBar

TEXT = 4.5
"""WCAG AA for normal text; every check here is text (3:1 would do for large text and UI)."""


def luminance(color: Color) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = color.get_truecolor()
    return 0.2126 * channel(red) + 0.7152 * channel(green) + 0.0722 * channel(blue)


def contrast(a: Color, b: Color) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_formula_matches_wcag() -> None:
    assert contrast(Color.parse("#000000"), Color.parse("#ffffff")) == pytest.approx(21)
    assert contrast(Color.parse("#767676"), Color.parse("#ffffff")) == pytest.approx(4.54, abs=0.01)


def segments(widget: Widget) -> Iterator[Segment]:
    """What ``widget`` draws, with the colours it resolves to."""
    for strip in widget.render_lines(Region(0, 0, widget.size.width, widget.size.height)):
        yield from strip


def ratio(widget: Widget, text: str) -> float:
    """The contrast of the first drawn piece of ``widget`` that contains ``text``."""
    for segment in segments(widget):
        if text in segment.text and segment.style is not None:
            fg, bg = segment.style.color, segment.style.bgcolor
            assert fg is not None and bg is not None, f"{text!r} has no resolved colours"
            return contrast(fg, bg)
    raise AssertionError(f"{text!r} not drawn by {widget!r}")


@pytest.mark.parametrize("theme", THEMES)
@pilot_test
async def test_the_theme_reaches_wcag_aa(demo_service: Service, theme: str) -> None:
    app = make_app(demo_service, theme=theme)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        board = dashboard(pilot)
        assert board.check_action("approve", ()) is None  # so the key bar has dimmed keys
        lanes = board.query_one(LaneBar)
        active = next(s for s in segments(lanes) if s.style and s.style.reverse)
        measured = {
            "clock": ratio(board.query_one(AppBar), "2026-01-01 09:00Z"),
            "hook on": ratio(board.query_one(AppBar), "● on"),
            "app bar key": ratio(board.query_one(AppBar), "[t]"),
            "active pane tab": contrast(active.style.color, active.style.bgcolor),  # type: ignore[union-attr,arg-type]
            "other pane tab": ratio(lanes, "Issuing"),
            "detail heading": ratio(board.query_one("#detail-body"), "Available now"),
            "failed status": ratio(board.query_one("#detail-body"), "draft.sync_failed"),
            "detail muted": ratio(board.query_one("#detail-body"), board.selected.id),  # type: ignore[union-attr]
            "dimmed key": ratio(board.query_one(KeyBar), " a "),
            "dimmed key's name": ratio(board.query_one(KeyBar), "Approve"),
            "key": ratio(board.query_one(KeyBar), " r "),
        }
        await pilot.press("question_mark")
        assert isinstance(app.screen, Help)
        measured["help heading"] = ratio(app.screen.query("Static").first(), "Keys")
        low = {name: round(value, 2) for name, value in measured.items() if value < TEXT}
        assert not low, f"{theme}: below {TEXT}:1: {low}"


def test_the_dashboard_starts_in_the_accessible_dark_theme(demo_service: Service) -> None:
    assert make_app(demo_service).theme == DEFAULT == "billing-dark"
    assert make_app(demo_service, theme="billing-light").theme == "billing-light"
