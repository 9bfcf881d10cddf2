"""Upgrades of workspaces written by an older tui-billing, run when one is opened.

Each upgrade turns the stored documents of one schema version into the next one's; the
repository applies them as ordinary puts and writes a fresh snapshot, after keeping the
old file beside the workspace. Event payloads are history (what was delivered) and stay
as they were.
"""

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from ..domain.ids import is_ulid
from ..domain.linespec import FlatFee, Usage, priced_line
from ..domain.models import Invoice, Line, ValidationIssue, Workspace, default_profile_id
from .journal import StoreError

Put = tuple[str, dict[str, Any], dict[str, Any] | None]
"""(table, document, invoice summary)."""


def _line_from_3(old: dict[str, Any], invoice: Invoice) -> Line:
    """A schema-3 line (one amount, type flat_fee or usage_based) priced and detailed as a
    new one would be; it keeps its id, description and external id."""
    unit_price = Decimal(old["unit_price"])
    spec = (
        FlatFee(old["name"], unit_price)
        if old["type"] == "flat_fee"
        else Usage(old["name"], Decimal(old["quantity"]), unit_price)
    )
    line = priced_line(spec, invoice, old["id"], invoice.created_at)
    line.description, line.external_id = old.get("description"), old.get("external_id")
    return line


def _issue_from_3(old: dict[str, Any], invoice: dict[str, Any]) -> ValidationIssue:
    at = datetime.fromisoformat(invoice["updated_at"])
    if is_ulid(old["id"]):
        return ValidationIssue(**old, created_at=at, updated_at=at)
    fields = {k: v for k, v in old.items() if k != "id"}
    return ValidationIssue.found(invoice["id"], at, **fields)


def _from_3(
    tables: dict[str, list[dict[str, Any]]], decode: Callable[[dict[str, Any]], dict[str, Any]]
) -> list[Put]:
    """Schema 3 → 4: lines gain prices and detailed lines; invoices name their app and
    billing profile and the customer's subjects; validation issues get ULIDs and times."""
    meta = dict(tables["meta"][0])
    app = tables["app"][0]
    meta["billing_profile_id"] = default_profile_id(meta["seed"], datetime.fromisoformat(app["created_at"]))
    puts: list[Put] = [("meta", Workspace.model_validate(meta).model_dump(mode="json"), None)]
    for row in tables["invoices"]:
        doc = decode(row)
        doc["customer"] = {**doc["customer"], "subject_keys": [doc["customer"]["key"]]}
        doc["validation_issues"] = [_issue_from_3(i, doc) for i in doc.get("validation_issues", [])]
        old_lines = doc.pop("lines", [])
        invoice = Invoice.model_validate(
            {**doc, "app_id": app["id"], "billing_profile_id": meta["billing_profile_id"]}
        )
        invoice.lines = [_line_from_3(line, invoice) for line in old_lines]
        puts.append(("invoices", invoice.model_dump(mode="json"), dict(invoice.summary())))
    return puts


def _from_4(
    tables: dict[str, list[dict[str, Any]]], decode: Callable[[dict[str, Any]], dict[str, Any]]
) -> list[Put]:
    """Schema 4 → 5: no document changes. Version 5 payload files may hold deltas, which a
    version 4 reader cannot read; the payloads of version 4 read as they are."""
    return []


def _from_5(
    tables: dict[str, list[dict[str, Any]]], decode: Callable[[dict[str, Any]], dict[str, Any]]
) -> list[Put]:
    """Schema 5 → 6: no document changes. A version 6 file may hold zeros after its records
    (room for the next ones), which a version 5 reader does not expect."""
    return []


UPGRADES: dict[int, Callable[..., list[Put]]] = {3: _from_3, 4: _from_4, 5: _from_5}
"""The upgrade from each older schema version to the next; each returns the documents it
changes, from the tables as stored (only one step changes documents so far)."""


def upgrade(
    version: int, tables: dict[str, list[dict[str, Any]]], decode: Callable[[dict[str, Any]], dict[str, Any]]
) -> list[Put]:
    """The documents that change when a workspace of ``version`` is brought to the current one."""
    try:
        return [put for step in range(version, max(UPGRADES) + 1) for put in UPGRADES[step](tables, decode)]
    except (KeyError, IndexError, TypeError, ValueError, ValidationError) as error:
        raise StoreError(
            f"cannot upgrade this workspace from schema version {version}: "
            f"{type(error).__name__}: {str(error).splitlines()[0]}"
        ) from None
