"""Dialogs of the demo itself: choose a guided tour, confirm a reset of the workspace."""

from pathlib import Path

from textual.app import ComposeResult
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from .base import Dialog
from .choosers import Confirm


class TourChooser(Dialog[str]):
    """Pick a packaged tour (name → title)."""

    TITLE_TEXT = "Guided tour"
    HINT = "↑↓ choose · enter: start (on a temporary workspace; yours is untouched) · esc: cancel"

    def __init__(self, titles: dict[str, str]) -> None:
        super().__init__()
        self.titles = titles

    def fields(self) -> ComposeResult:
        yield OptionList(*[Option(title, id=name) for name, title in self.titles.items()], id="tour-options")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_submit(self) -> None:
        option_list = self.query_one(OptionList)
        if option_list.highlighted is not None:
            self.dismiss(option_list.options[option_list.highlighted].id)


class ConfirmReset(Confirm):
    """Replacing the workspace with the demo needs a second, different key: ``y``."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            "Reset the demo workspace?",
            f"{path} will be rebuilt from the packaged demo scenario; everything done in it is lost.",
            "reset",
        )
