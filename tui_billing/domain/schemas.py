"""The InvoiceGenerated seed schema (a copy of ../shared/seeds, checked equal by the
tests) as the validator behind the dashboard's "schema valid" mark."""

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator, FormatChecker


def _load(name: str) -> dict[str, Any]:
    return json.loads((resources.files("tui_billing.domain") / "schemas" / name).read_text("utf-8"))


@cache
def _invoice_generated() -> Draft7Validator:
    return Draft7Validator(_load("InvoiceGenerated.schema.json"), format_checker=FormatChecker())


def _errors(validator: Draft7Validator, payload: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in validator.iter_errors(payload)]


def invoice_generated_errors(payload: dict[str, Any]) -> list[str]:
    """Why ``payload`` is not a valid InvoiceGenerated event; empty when it is."""
    return _errors(_invoice_generated(), payload)

