"""Kong's published schemas, carried verbatim in ``schemas/``: InvoiceGenerated (draft-07) is
the validator behind the dashboard's "schema valid" mark; BillingAppExternalInvoicing (the v3
app object) is what the tests hold the app to. Provenance: docs/wire-contract.md."""

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator, FormatChecker


def _load(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        (resources.files("tui_billing.domain") / "schemas" / name).read_text("utf-8")
    )
    return schema


@cache
def _invoice_generated() -> Draft7Validator:
    return Draft7Validator(_load("InvoiceGenerated.schema.json"), format_checker=FormatChecker())


def _errors(validator: Draft7Validator, payload: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in validator.iter_errors(payload)
    ]


def invoice_generated_errors(payload: dict[str, Any]) -> list[str]:
    """Why ``payload`` is not a valid InvoiceGenerated event; empty when it is."""
    return _errors(_invoice_generated(), payload)
