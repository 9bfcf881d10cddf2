"""Scenario files: settings, a seed, then service commands replayed in order.

A scenario is JSON::

    {"name": "demo", "seed": 7, "clock": "2026-01-01T09:00:00Z", "customers": 6,
     "app": {"enable_draft_sync_hook": false}, "workflow": {"due_after": "P30D"},
     "steps": [{"do": "create_invoice", "customer": 0, "flat": ["Setup=99"], "as": "a"},
               {"do": "payment_status", "invoice": "$a", "trigger": "paid"}]}

``customer`` is a key or the index of a generated customer; ``$name`` is the id of the
invoice a step saved ``as`` name, and ``$name.lines.N`` the id of its N-th line.
"""

import json
from collections.abc import Callable
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..domain import timefmt
from ..domain.errors import BillingError, InvalidValue
from ..domain.linespec import parse_flat, parse_usage
from ..domain.models import Invoice
from ..store.lock import WorkspaceLock
from ..store.repository import Repository, payloads_path, real_path
from .service import Service

MAX_CUSTOMERS = 10_000
"""The most customers a workspace is generated with."""


class Step(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    do: str
    save_as: str | None = Field(default=None, alias="as")


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    seed: int = 7
    clock: datetime
    customers: int = Field(default=6, ge=1, le=MAX_CUSTOMERS)
    app: dict[str, Any] = {}
    workflow: dict[str, Any] = {}
    steps: list[Step] = []

    @field_validator("clock")
    @classmethod
    def _clock_in_range(cls, clock: datetime) -> datetime:
        try:
            return timefmt.in_range(clock, "clock")
        except InvalidValue as error:
            raise ValueError(str(error)) from None


S = TypeVar("S", bound="Scenario")


def bundled(name: str) -> Path:
    """A scenario of the project's ``fixtures/`` folder.

    A built wheel carries the folder inside the package (``tui_billing/fixtures``); a
    source checkout or an editable install reads it where it is.
    """
    packaged = Path(str(resources.files("tui_billing"))) / "fixtures" / f"{name}.json"
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "fixtures" / f"{name}.json"


def bundled_names() -> list[str]:
    """The names of the scenarios shipped with the package."""
    return sorted(p.stem for p in bundled("demo").parent.glob("*.json"))


def find(name_or_path: str | Path) -> Path:
    """A scenario file by path, else a packaged scenario by name (``demo``): a bare name
    that is no file here is looked up among the packaged ones."""
    path = Path(name_or_path).expanduser()
    if path.is_file() or path.suffix or len(path.parts) > 1:
        return path  # a file (load says so when there is none)
    if bundled(str(name_or_path)).is_file():
        return bundled(str(name_or_path))
    raise InvalidValue(
        f"no scenario {str(name_or_path)!r}: give a file or one of {', '.join(bundled_names())}"
    )


def _first_problem(error: ValidationError) -> str:
    """Pydantic's first complaint on one line: where, then what."""
    first = error.errors()[0]
    return f"{first['msg']} at {'.'.join(map(str, first['loc'])) or 'the top level'}"


def load(path: Path | str, model: type[S] = Scenario) -> S:  # type: ignore[assignment]
    """A scenario file (or a file of a ``Scenario`` subclass, such as a tour)."""
    kind = model.__name__.lower()
    try:
        return model.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise InvalidValue(f"no {kind} file {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidValue(f"cannot read {kind} {path}: {error}") from None
    except json.JSONDecodeError as error:
        raise InvalidValue(f"{kind} {path} is not valid JSON: {error}") from None
    except ValidationError as error:
        raise InvalidValue(f"{kind} {path} is not a {kind}: {_first_problem(error)}") from None


def build(path: Path, scenario: Scenario, *, force: bool = False) -> Service:
    """A new workspace at ``path`` made by replaying ``scenario``.

    It is built beside (``<path>.init``) and moved into place only when every step has
    run, so a failing step or a kill leaves the old workspace, or none, as it was.
    """
    path = real_path(path)
    scratch = path.with_name(path.name + ".init")
    try:
        service = Service.create(
            scratch,
            seed=scenario.seed,
            now=scenario.clock,
            customers=scenario.customers,
            app=scenario.app,
            workflow=scenario.workflow,
            force=True,
        )
    except ValidationError as error:
        raise InvalidValue(f"scenario {scenario.name}: {_first_problem(error)}") from None
    try:
        replay(service, scenario)
        service.close()
        Repository.install(scratch, path, force=force)
    finally:
        service.close()  # closing twice does nothing
        _remove(scratch)  # nothing left once installed
    return Service.open(path)


def _remove(scratch: Path) -> None:
    """Delete a scratch workspace and the files beside it (nothing if already moved)."""
    for leftover in (scratch, payloads_path(scratch), WorkspaceLock(scratch).path):
        leftover.unlink(missing_ok=True)


def replay(service: Service, scenario: Scenario) -> None:
    saved: dict[str, Invoice] = {}
    for number, step in enumerate(scenario.steps, start=1):
        if step.do not in COMMANDS:
            raise InvalidValue(f"step {number}: unknown command {step.do!r}; known: {', '.join(COMMANDS)}")
        run_step(service, step, saved, f"scenario {scenario.name}, step {number}")


def run_step(service: Service, step: Step, saved: dict[str, Invoice], where: str) -> Any:
    """Run one step's command (``step.do``, one of ``COMMANDS``) with its ``$name``
    references resolved; an invoice it returns is saved under the step's ``as``. A refusal
    is an ``InvalidValue`` that starts with ``where``."""
    command = COMMANDS[step.do]
    try:
        result = command(service, **{k: _resolve(v, saved) for k, v in (step.model_extra or {}).items()})
    except (BillingError, TypeError) as error:
        raise InvalidValue(f"{where} ({step.do}): {error}") from None
    if step.save_as and isinstance(result, Invoice):
        saved[step.save_as] = result
    return result


def _resolve(value: Any, saved: dict[str, Invoice]) -> Any:
    if isinstance(value, str) and value.startswith("$"):
        name, _, rest = value[1:].partition(".")
        if name not in saved:
            raise InvalidValue(f'{value!r} refers to no invoice saved with "as"')
        invoice = saved[name]
        if not rest:
            return invoice.id
        kind, _, index = rest.partition(".")
        if kind != "lines" or not index.isdigit() or int(index) >= len(invoice.lines):
            raise InvalidValue(f"{value!r}: write $name or $name.lines.N")
        return invoice.lines[int(index)].id
    if isinstance(value, dict):
        return {_resolve(k, saved): _resolve(v, saved) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, saved) for v in value]
    return value


def _create(service: Service, customer: int | str, flat: list[str] = (), usage: list[str] = ()) -> Invoice:  # type: ignore[assignment]
    if isinstance(customer, int):
        customers = service.customers()
        if not 0 <= customer < len(customers):
            raise InvalidValue(f"customer index {customer} is out of range (0–{len(customers) - 1})")
        customer = customers[customer].key
    lines = [parse_flat(text) for text in flat] + [parse_usage(text) for text in usage]
    return service.create_invoice(customer, lines)


def _edit(service: Service, invoice: str, flat: list[str] = (), usage: list[str] = ()) -> Invoice:  # type: ignore[assignment]
    return service.edit_invoice(invoice, [parse_flat(t) for t in flat] + [parse_usage(t) for t in usage])


COMMANDS: dict[str, Callable[..., Any]] = {
    "create_invoice": _create,
    "edit_invoice": _edit,
    "set_hooks": lambda s, **kw: s.set_hooks(**kw),
    "set_workflow": lambda s, **kw: s.set_workflow(**kw),
    "draft_synchronized": lambda s, invoice, **kw: s.draft_synchronized(invoice, **kw),
    "issuing_synchronized": lambda s, invoice, **kw: s.issuing_synchronized(invoice, **kw),
    "payment_status": lambda s, invoice, trigger: s.payment_status(invoice, trigger),
    "authorize_payment": lambda s, invoice: s.authorize_payment(invoice),
    "approve": lambda s, invoice: s.approve(invoice),
    "retry": lambda s, invoice: s.retry(invoice),
    "advance": lambda s, invoice: s.advance(invoice),
    "collect": lambda s, invoice: s.collect(invoice),
    "delete": lambda s, invoice, simulate_failure=False: s.delete(invoice, simulate_failure=simulate_failure),
    "report_failure": lambda s, invoice, message=None: s.report_failure(invoice, message),
    "advance_clock": lambda s, duration: s.advance_clock(duration),
}
