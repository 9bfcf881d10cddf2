"""Request bodies, validated strictly at the edge (a wrong type is a 400, never coerced).

Field names are OpenMeter's: camelCase for the v1 API, snake_case for v3. v1 bodies ignore
unknown fields, as OpenMeter's server does (read-only fields sent back, ``id``,
``createdAt``, ``listing`` …, are accepted and ignored); v3 bodies refuse them, as v3's
schemas say (``additionalProperties: false``).
"""

from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from ..service.commands import ReplaceApp
from .problems import ApiProblem, Parameter

Name = Annotated[str, Field(min_length=1, max_length=256)]
Description = Annotated[str, Field(max_length=1024)]
LabelValue = Annotated[
    str, Field(min_length=1, max_length=63, pattern=r"^[a-zA-Z0-9]([a-zA-Z0-9._-]*[a-zA-Z0-9])?$")
]
Labels = Annotated[dict[Annotated[str, Field(min_length=1, max_length=63)], LabelValue], Field(max_length=50)]
RULES = {
    "missing": "required",
    "extra_forbidden": "unknown_property",
    "bool_type": "is_boolean",
    "string_type": "is_string",
    "dict_type": "is_object",
    "model_type": "is_object",
    "int_type": "is_integer",
    "list_type": "is_array",
    "literal_error": "invalid",
    "string_pattern_mismatch": "matches_regex",
}
"""pydantic's error types as v3's ``invalid_parameters`` rules (others have none)."""


class _V1(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", alias_generator=to_camel)


class _V3(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class LineExternalId(_V1):
    line_id: str
    external_id: str


class LineDiscountExternalId(_V1):
    line_discount_id: str
    external_id: str


class DraftSyncResult(_V1):
    invoice_number: str | None = None
    external_id: str | None = None
    line_external_ids: list[LineExternalId] | None = None
    line_discount_external_ids: list[LineDiscountExternalId] | None = None


class DraftSynchronized(_V1):
    invoicing: DraftSyncResult


class IssuingInvoicing(_V1):
    invoice_number: str | None = None
    sent_to_customer_at: str | None = None


class IssuingPayment(_V1):
    external_id: str | None = None


class IssuingSynchronized(_V1):
    invoicing: IssuingInvoicing | None = None
    payment: IssuingPayment | None = None


class PaymentStatus(_V1):
    trigger: str


class AppV1Update(_V1):
    """``PUT /api/v1/apps/{id}``: OpenMeter's ``CustomInvoicingAppReplaceUpdate`` (it
    replaces: a description or metadata left out is cleared)."""

    name: Name
    description: Description | None = None
    metadata: dict[str, str] | None = None
    type: Literal["custom_invoicing"]
    enable_draft_sync_hook: bool
    enable_issuing_sync_hook: bool

    def command(self) -> ReplaceApp:
        return ReplaceApp(
            app_name=self.name,
            description=self.description,
            labels=self.metadata,
            draft_hook=self.enable_draft_sync_hook,
            issuing_hook=self.enable_issuing_sync_hook,
        )


class AppV3Update(_V3):
    """``PUT /openmeter/apps/{appId}``: ``UpdateAppExternalInvoicingRequest`` (replaces too)."""

    name: Name
    description: Description | None = None
    labels: Labels | None = None
    type: Literal["external_invoicing"]
    enable_draft_sync_hook: bool
    enable_issuing_sync_hook: bool

    def command(self) -> ReplaceApp:
        return ReplaceApp(
            app_name=self.name,
            description=self.description,
            labels=self.labels,
            draft_hook=self.enable_draft_sync_hook,
            issuing_hook=self.enable_issuing_sync_hook,
        )


Numeric = Annotated[str, Field(pattern=r"^\-?[0-9]+(\.[0-9]+)?$")]
Ulid = Annotated[str, Field(pattern=r"^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$")]


class Period(_V1):
    from_: datetime = Field(alias="from")
    to: datetime


class LinePrice(_V1):
    """A line's price: ``flat`` or ``unit`` (the prices simulated lines have); tiered,
    dynamic and package prices are refused by name."""

    type: Literal["flat", "unit", "tiered", "dynamic", "package"]
    amount: Numeric | None = None


class RateCard(_V1):
    feature_key: str | None = None
    price: LinePrice | None


class LineReplace(_V1):
    """``InvoiceLineReplaceUpdate``: a line kept (``id`` of an existing line) or new."""

    id: Ulid | None = None
    name: Name
    description: Description | None = None
    metadata: dict[str, str] | None = None
    period: Period
    invoice_at: datetime
    rate_card: RateCard | None = None
    price: LinePrice | None = None
    """Deprecated in OpenMeter in favour of ``rateCard.price``; either is read."""
    feature_key: str | None = None


class BillingParty(_V1):
    key: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    name: str | None = None
    tax_id: dict[str, Any] | None = None
    addresses: Annotated[list[dict[str, Any]], Field(max_length=1)] | None = None


class WorkflowInvoicing(_V1):
    auto_advance: bool | None = None
    draft_period: str | None = None
    due_after: str | None = None


class WorkflowSettings(_V1):
    invoicing: WorkflowInvoicing
    payment: dict[str, Any]


class InvoiceWorkflow(_V1):
    workflow: WorkflowSettings


class InvoiceReplace(_V1):
    """``PUT /api/v1/billing/invoices/{id}``: OpenMeter's ``InvoiceReplaceUpdate``.

    Required as the spec says (supplier, customer, lines, workflow); the simulator applies
    the lines, the description and the metadata (docs/fidelity.md)."""

    description: Description | None = None
    metadata: dict[str, str] | None = None
    supplier: BillingParty
    customer: BillingParty
    lines: list[LineReplace]
    workflow: InvoiceWorkflow

    @model_validator(mode="after")
    def _distinct_line_ids(self) -> "InvoiceReplace":
        ids = [line.id for line in self.lines if line.id]
        if len(ids) != len(set(ids)):
            raise ValueError("lines name the same line id twice")
        return self


Body = TypeVar("Body", bound=BaseModel)


def parse(model: type[Body], raw: bytes) -> Body:
    """The body as ``model``, or a 400 problem saying what is wrong and where."""
    if not raw.strip():
        detail = "the request body is empty: send a JSON object"
        raise ApiProblem(400, detail, parameters=[Parameter("body", detail, "body", "required")])
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        raise ApiProblem(400, describe(error), parameters=parameters(error)) from None


def parameters(error: ValidationError) -> list[Parameter]:
    """Each error of the body as a v3 invalid parameter (one per field)."""
    found: dict[str, Parameter] = {}
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "body"
        found.setdefault(where, Parameter(where, item["msg"], "body", RULES.get(item["type"])))
    return list(found.values())


def describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors()[:3]:
        if item["type"] == "json_invalid":
            return f"the request body is not valid JSON ({item.get('ctx', {}).get('error', item['msg'])})"
        where = ".".join(str(part) for part in item["loc"])
        problems.append(f"{where}: {item['msg']}" if where else item["msg"])
    more = error.error_count() - len(problems)
    return "invalid request body: " + "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")
