"""The certification suites: declarative files in ``fixtures/certify/*.json``.

A suite names its checks; a check documents what production does and why it matters,
and lists steps. A step is one of:

* ``{"do": COMMAND, ...}``: a service command of the scenario registry
  (``tui_billing.service.commands.COMMANDS``), run through ``scenario.run_step``, so ``as``
  and ``$name`` work as in scenario files;
* ``{"send": EVENT_TYPE, "invoice": "$a", "state": EXTENDED_STATUS, ...}``: certify itself
  delivers that logged event to the partner, optionally with a fault (``forged`` checks);
* ``{"fault": KIND, "callback": NAME, "invoice": "$a", ...}``: a fault on the partner's
  next matching callback;
* ``{"expect": NAME, ...}``: a grade (``tui_billing.certify.engine.EXPECTATIONS``).

With ``"webhooks": "live"`` (the default) the simulator's dispatcher delivers every event
as production does; with ``"forged"`` the channel's rules are paused for the check and only
its ``send`` steps reach the partner.
"""

import json
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..domain.errors import InvalidValue


class CheckSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    title: str
    production: str
    """What OpenMeter does in production."""
    why: str
    """Why it matters to the partner."""
    webhooks: Literal["live", "forged"] = "live"
    steps: list[dict[str, Any]]


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    order: int
    description: str
    opt_in: bool = False
    """Run only when named with ``--suite``."""
    checks: list[CheckSpec]


def folder() -> Path:
    """``fixtures/certify``: inside the installed package, else in the source checkout."""
    packaged = Path(str(resources.files("tui_billing"))) / "fixtures" / "certify"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "fixtures" / "certify"


def load_all(where: Path | None = None) -> list[Suite]:
    """Every suite of the folder, in their ``order``."""
    suites = []
    for path in sorted((where or folder()).glob("*.json")):
        try:
            suites.append(Suite.model_validate(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, ValidationError) as error:
            first = str(error).splitlines()[0]
            raise InvalidValue(f"certify suite {path.name} is not valid: {first}") from None
    return sorted(suites, key=lambda s: s.order)


def select(suites: list[Suite], names: list[str]) -> set[str]:
    """The suite names to run: those named (every one must exist), else every suite that
    is not opt-in."""
    known = {s.name for s in suites}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidValue(f"unknown suite {', '.join(unknown)}; known: {', '.join(s.name for s in suites)}")
    return set(names) if names else {s.name for s in suites if not s.opt_in}
