"""Scenario files: settings, a seed, then service commands replayed in order.

A scenario is JSON::

    {"name": "demo", "seed": 7, "clock": "2026-01-01T09:00:00Z", "customers": 6,
     "app": {"enable_draft_sync_hook": false}, "workflow": {"due_after": "P30D"},
     "steps": [{"do": "create_invoice", "customer": 0, "flat": ["Setup=99"], "as": "a"},
               {"do": "payment_status", "invoice": "$a", "trigger": "paid"}]}

``customer`` is a key or the index of a generated customer; ``$name`` is the id of what
a step saved ``as`` name (an invoice, a webhook channel, a rule or a notification event),
and ``$name.lines.N`` the id of a saved invoice's N-th line.
"""

import json
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..domain import timefmt
from ..domain.errors import BillingError, InvalidValue
from ..domain.linespec import parse_flat, parse_usage
from ..domain.models import Invoice
from ..domain.notifications import Channel, Notification, Rule
from ..store.lock import WorkspaceLock
from ..store.repository import Repository, payloads_path, real_path
from .commands import COMMANDS, Command, command_from
from .service import Service

MAX_CUSTOMERS = 10_000
"""The most customers a workspace is generated with."""

Saved = Invoice | Channel | Rule | Notification
"""What a step's ``as`` can save: a command's result that has an id."""
SAVEABLE = (Invoice, Channel, Rule, Notification)


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
    saved: dict[str, Saved] = {}
    for number, step in enumerate(scenario.steps, start=1):
        if step.do not in COMMANDS:
            raise InvalidValue(f"step {number}: unknown command {step.do!r}; known: {', '.join(COMMANDS)}")
        run_step(service, step, saved, f"scenario {scenario.name}, step {number}")


def run_step(service: Service, step: Step, saved: dict[str, Saved], where: str) -> Any:
    """Run one step's command (``step.do``, a name of the command registry) with its
    ``$name`` references resolved; what it returns is saved under the step's ``as`` (the
    channel, for ``add_channel``'s channel and rules). A refusal is an ``InvalidValue``
    that starts with ``where``."""
    try:
        if step.save_as and step.do in COMMANDS and not _returns_saveable(COMMANDS[step.do]):
            raise InvalidValue(
                '"as" saves an invoice, a channel, a rule or an event; this command returns none'
            )
        fields = {k: _resolve(v, saved) for k, v in (step.model_extra or {}).items()}
        result = service.execute(command_from(step.do, _file_fields(service, step.do, fields)))
    except BillingError as error:
        raise InvalidValue(f"{where} ({step.do}): {error}") from None
    if step.save_as:
        saved[step.save_as] = result[0] if isinstance(result, tuple) else result
    return result


def _returns_saveable(command: type[Command]) -> bool:
    """Whether a command returns something ``as`` can save (read from ``run``'s return
    annotation, so a step is refused before its command runs)."""
    returned = command.run.__annotations__.get("return")
    if get_origin(returned) is tuple:  # add_channel: the channel and its rules
        returned = get_args(returned)[0]
    return isinstance(returned, type) and issubclass(returned, SAVEABLE)


def _file_fields(service: Service, name: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A step's fields as its command's: a scenario file writes lines as ``flat``/``usage``
    texts (as the CLI does) and a customer by key or by index."""
    if name not in ("create_invoice", "edit_invoice"):
        return fields
    flat, usage = fields.pop("flat", []), fields.pop("usage", [])
    if not isinstance(flat, list) or not isinstance(usage, list):
        raise InvalidValue("flat and usage are lists of line texts")
    fields["lines"] = [parse_flat(str(text)) for text in flat] + [parse_usage(str(text)) for text in usage]
    customer = fields.get("customer")
    if isinstance(customer, int) and not isinstance(customer, bool):
        customers = service.customers()
        if not 0 <= customer < len(customers):
            raise InvalidValue(f"customer index {customer} is out of range (0–{len(customers) - 1})")
        fields["customer"] = customers[customer].key
    return fields


def _resolve(value: Any, saved: dict[str, Saved]) -> Any:
    if isinstance(value, str) and value.startswith("$"):
        name, _, rest = value[1:].partition(".")
        if name not in saved:
            raise InvalidValue(f'{value!r} refers to nothing saved with "as"')
        found = saved[name]
        if not rest:
            return found.id
        kind, _, index = rest.partition(".")
        if (
            not isinstance(found, Invoice)
            or kind != "lines"
            or not index.isdigit()
            or int(index) >= len(found.lines)
        ):
            raise InvalidValue(f"{value!r}: write $name, or $name.lines.N for a saved invoice's line")
        return found.lines[int(index)].id
    if isinstance(value, dict):
        return {_resolve(k, saved): _resolve(v, saved) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, saved) for v in value]
    return value
