"""Guided tours: a scenario's start, then steps a presenter plays one at a time.

A tour file (``fixtures/tours/*.json``, documented in ``docs/tours.md``) is a scenario
(seed, clock, customers, app, workflow; its ``setup`` steps build the starting state
unseen) whose ``steps`` each carry a ``caption``, optionally one command in the scenario
vocabulary (``do`` and its arguments, run by ``scenario.run_step``) and what to
``highlight``. ``TourPlayer`` plays a tour on a fresh temporary workspace: forward runs
the next step's command, back rebuilds the workspace up to the previous step (commands
cannot be undone).
"""

import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..domain.errors import InvalidValue
from ..domain.models import Invoice
from . import scenario
from .commands import COMMANDS
from .scenario import Scenario, Step
from .service import Service


class Highlight(BaseModel):
    """What a step points at on the dashboard."""

    model_config = ConfigDict(extra="forbid")

    invoice: str | None = None
    """``$name``: select that invoice, following it into the pane it rests in."""
    tab: Literal["detail", "generated", "v1", "events"] | None = None
    """The preview tab to show."""
    keys: list[str] = []
    """Dashboard keys the step is about (the tour panel names them)."""
    signature: bool = False
    """Show how the invoice's newest webhook event is signed with the tour's secret."""


class TourStep(Step):
    do: str | None = None  # type: ignore[assignment]  # a step may only explain
    caption: str = Field(min_length=1)
    highlight: Highlight = Highlight()


class Tour(Scenario):
    title: str
    webhook_secret: str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    """The secret the ``signature`` highlight signs with (an example, not a real one)."""
    setup: list[Step] = Field(default_factory=list)
    steps: list[TourStep] = Field(min_length=1)  # type: ignore[assignment]


def tours_dir() -> Path:
    """The packaged tours (``fixtures/tours`` in a checkout)."""
    packaged = Path(str(resources.files("tui_billing"))) / "fixtures" / "tours"
    return packaged if packaged.is_dir() else scenario.bundled("demo").parent / "tours"


def names() -> list[str]:
    return sorted(path.stem for path in tours_dir().glob("*.json"))


def find(name: str) -> Path:
    """A packaged tour by name."""
    path = tours_dir() / f"{name}.json"
    if not path.is_file():
        raise InvalidValue(f"no tour {name!r}; the tours: {', '.join(names())} (or --file PATH)")
    return path


def load(path: Path) -> Tour:
    """A tour file, its commands checked against the scenario vocabulary."""
    tour = scenario.load(path, Tour)
    for where, steps in (("setup step", tour.setup), ("step", tour.steps)):
        for number, step in enumerate(steps, start=1):
            if step.do is not None and step.do not in COMMANDS:
                raise InvalidValue(
                    f"tour {path}, {where} {number}: unknown command {step.do!r}; "
                    f"known: {', '.join(COMMANDS)}"
                )
    return tour


class TourPlayer:
    """A tour played on its own temporary workspace; ``position`` is the step shown (its
    command and every earlier one have run). ``close`` removes the workspace."""

    def __init__(self, tour: Tour) -> None:
        self.tour = tour
        self._directory = Path(tempfile.mkdtemp(prefix="tui-billing-tour-"))
        self._builds = 0
        self.saved: dict[str, scenario.Saved] = {}
        self.results: list[Any] = []
        """What each step's command returned (None for a caption-only step)."""
        try:
            self.service = self._build(0)
        except BaseException:
            shutil.rmtree(self._directory, ignore_errors=True)
            raise

    @property
    def position(self) -> int:
        return len(self.results) - 1

    @property
    def step(self) -> TourStep:
        return self.tour.steps[self.position]

    @property
    def at_end(self) -> bool:
        return self.position == len(self.tour.steps) - 1

    def _build(self, through: int) -> Service:
        """A fresh workspace with the setup and steps 0..``through`` played."""
        self._builds += 1
        tour = self.tour
        service = Service.create(
            self._directory / f"tour-{self._builds}.db",
            seed=tour.seed,
            now=tour.clock,
            customers=tour.customers,
            app=tour.app,
            workflow=tour.workflow,
        )
        self.saved, self.results = {}, []
        try:
            for number, step in enumerate(tour.setup, start=1):
                scenario.run_step(service, step, self.saved, f"tour {tour.name}, setup step {number}")
            for _ in range(through + 1):
                self._play(service)
        except BaseException:
            service.close()
            raise
        return service

    def _play(self, service: Service) -> None:
        number = len(self.results) + 1
        step = self.tour.steps[number - 1]
        result = None
        if step.do is not None:
            result = scenario.run_step(service, step, self.saved, f"tour {self.tour.name}, step {number}")
        self.results.append(result)
        if step.highlight.invoice is not None:
            self.invoice_id(step.highlight.invoice, f"tour {self.tour.name}, step {number}")

    def forward(self) -> bool:
        """Play the next step; False at the end."""
        if self.at_end:
            return False
        self._play(self.service)
        return True

    def back(self) -> bool:
        """Show the previous step again (on a rebuilt workspace); False at the start."""
        if self.position == 0:
            return False
        target = self.position - 1
        self.service.close()
        self.service = self._build(target)
        return True

    def invoice_id(self, reference: str, where: str = "highlight") -> str:
        """The id of the invoice a ``$name`` reference names."""
        found = self.saved.get(reference.removeprefix("$")) if reference.startswith("$") else None
        if not isinstance(found, Invoice):
            raise InvalidValue(f'{where}: highlight invoice {reference!r} names no invoice saved with "as"')
        return found.id

    def close(self) -> None:
        self.service.close()
        shutil.rmtree(self._directory, ignore_errors=True)


def check(tour: Tour) -> int:
    """Play ``tour`` to its end on a scratch workspace: every step's command must be
    allowed in the state the earlier steps leave. Returns the number of steps."""
    player = TourPlayer(tour)
    try:
        while player.forward():
            pass
        return player.position + 1
    finally:
        player.close()
