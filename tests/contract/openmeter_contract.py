"""OpenMeter's wire contract, in this project's own words: pydantic v2 models of the JSON a
partner's code reads from OpenMeter (and so from the simulator).

Written from OpenMeter's published OpenAPI documents (openmeterio/openmeter, ``api/openapi.yaml``
for v1 and ``api/v3/openapi.yaml`` for v3), not copied from them. Each model names the schema
whose facts it captures: v1 ``Invoice``, ``InvoiceStatusDetails``, ``InvoiceTotals``,
``BillingParty``, ``BillingInvoiceCustomerExtendedDetails``, ``CustomerUsageAttribution``,
``InvoiceWorkflowSettings``, ``BillingProfileAppReferences``, ``ValidationIssue``,
``InvoiceLine``, ``InvoiceDetailedLine``, ``InvoicePaginatedResponse``,
``UnexpectedProblemResponse``, ``CustomInvoicingApp``, ``AppPaginatedResponse``,
``NotificationEventInvoiceCreatedPayload`` / ``…UpdatedPayload``, the notification API's
``NotificationChannelWebhook``, ``NotificationRuleInvoiceCreated`` / ``…Updated``,
``NotificationEvent`` with its delivery statuses and attempts, and their paginated
responses; v3 ``BillingAppExternalInvoicing``,
``BillingAppCatalogItem``, ``BaseError``, ``BadRequestError``.

The facts captured are the ones integrations trip over: required fields, enums, id and number
formats (ULIDs, RFC 3339 date-times, decimal strings, absolute URIs), line types, and whether
extra properties are allowed (v1: yes, as the spec leaves ``additionalProperties`` open; v3
apps: no). Models validate JSON text in strict mode, so ``"1"`` is not an integer and ``1``
is not a decimal string.

Where OpenMeter's server leaves its own spec, the contract follows the server, and says so:
``status`` of an invoice in ``delete.*`` is its short status (``delete``/``deleted``), which
is outside the spec's enum. A little stricter than the spec, from what OpenMeter's server
sends: a problem always has its integer ``status``; ``extensions`` that carry a billing
validation issue carry its ``severity`` and ``message`` (and ``additionalIssues`` alike);
workflow durations are ISO 8601; prices are ``flat`` or ``unit``, the two the simulator bills
(the spec also knows tiered, dynamic and package prices).
"""

import re
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

# --- formats --------------------------------------------------------------------------------
_CROCKFORD = "0-9A-HJKMNP-TV-Z"
Ulid = Annotated[str, StringConstraints(pattern=rf"^[0-7][{_CROCKFORD}a-hjkmnp-tv-z]{{25}}$")]
"""A ULID as v1 writes its ``id`` pattern (either case)."""
UlidV3 = Annotated[str, StringConstraints(pattern=rf"^[0-7][{_CROCKFORD}]{{25}}$")]
"""A ULID as v3 writes it: upper case only."""
Numeric = Annotated[str, StringConstraints(pattern=r"^-?[0-9]+(\.[0-9]+)?$")]
"""A decimal as a string (``"12.50"``, ``"-3"``): never a JSON number."""
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Key = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9]+(?:_[a-z0-9]+)*$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Metadata = dict[str, str]

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_ISO_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")
_LABEL_VALUE = re.compile(r"^[a-z0-9A-Z]([a-z0-9A-Z\-._]*[a-z0-9A-Z]+)?$")


def _rfc3339(value: str) -> str:
    """RFC 3339 date-time: a date, ``T``, a time and an explicit offset, and a real instant."""
    if not _RFC3339.match(value):
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
    return value


def _iso_duration(value: str) -> str:
    if not _ISO_DURATION.match(value):
        raise ValueError(f"{value!r} is not an ISO 8601 duration")
    return value


def _uri(value: str) -> str:
    """An absolute URI (RFC 3986): a scheme, then the rest; ``/a/path`` is only a reference."""
    if not _URI.match(value):
        raise ValueError(f"{value!r} is not an absolute URI (a path is not one)")
    return value


def _labels(value: dict[str, str]) -> dict[str, str]:
    if len(value) > 50:
        raise ValueError("at most 50 labels")
    for key, text in value.items():
        if not (1 <= len(text) <= 63 and _LABEL_VALUE.match(text)):
            raise ValueError(f"label {key!r}: {text!r} is not a label value")
    return value


DateTime = Annotated[str, AfterValidator(_rfc3339)]
Duration = Annotated[str, AfterValidator(_iso_duration)]
Uri = Annotated[str, AfterValidator(_uri)]
Labels = Annotated[dict[str, str], AfterValidator(_labels)]


class Open(BaseModel):
    """A v1 object: strict types, other properties allowed (the spec leaves them open)."""

    model_config = ConfigDict(strict=True, extra="allow")


class Closed(BaseModel):
    """A v3 object: strict types and no property the spec does not name."""

    model_config = ConfigDict(strict=True, extra="forbid")


# --- v1 invoice -----------------------------------------------------------------------------
InvoiceStatus = Literal[
    "gathering",
    "draft",
    "issuing",
    "issued",
    "payment_processing",
    "overdue",
    "paid",
    "uncollectible",
    "voided",
]
DELETE_SHORT_STATUSES = frozenset({"delete", "deleted"})
"""The statuses of an invoice in ``delete.*`` or ``deleted``, outside the spec's enum."""


class Period(Open):
    from_: DateTime = Field(alias="from")
    to: DateTime


class Totals(Open):
    """``InvoiceTotals``: eight decimal strings, all required."""

    amount: Numeric
    chargesTotal: Numeric
    discountsTotal: Numeric
    creditsTotal: Numeric
    taxesInclusiveTotal: Numeric
    taxesExclusiveTotal: Numeric
    taxesTotal: Numeric
    total: Numeric


class ActionDetails(Open):
    resultingState: str


class AvailableActions(Open):
    advance: ActionDetails | None = None
    approve: ActionDetails | None = None
    delete: ActionDetails | None = None
    retry: ActionDetails | None = None
    snapshotQuantities: ActionDetails | None = None
    void: ActionDetails | None = None
    invoice: dict[str, Any] | None = None


class StatusDetails(Open):
    """``InvoiceStatusDetails``."""

    immutable: bool
    failed: bool
    extendedStatus: str
    availableActions: AvailableActions


class Address(Open):
    country: Country | None = None
    postalCode: str | None = None
    state: str | None = None
    city: str | None = None
    line1: str | None = None
    line2: str | None = None
    phoneNumber: str | None = None


class TaxIdentity(Open):
    code: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = None


class Party(Open):
    """``BillingParty`` (the supplier): nothing required, at most one address."""

    id: str | None = None
    key: Name | None = None
    name: str | None = None
    taxId: TaxIdentity | None = None
    addresses: Annotated[list[Address], Field(max_length=1)] | None = None


class UsageAttribution(Open):
    """``CustomerUsageAttribution``."""

    subjectKeys: list[Annotated[str, StringConstraints(min_length=1)]]


class InvoiceCustomer(Party):
    """``BillingInvoiceCustomerExtendedDetails``: a party that must say whose usage it bills."""

    usageAttribution: UsageAttribution


class AppReference(Open):
    id: Ulid


class AppReferences(Open):
    """``BillingProfileAppReferences``: the three apps of the profile, each by id."""

    tax: AppReference
    invoicing: AppReference
    payment: AppReference


class CollectionSettings(Open):
    alignment: dict[str, Any] | None = None
    interval: Duration | None = None


class InvoicingSettings(Open):
    autoAdvance: bool | None = None
    draftPeriod: Duration | None = None
    dueAfter: Duration | None = None
    progressiveBilling: bool | None = None


class PaymentSettings(Open):
    collectionMethod: Literal["charge_automatically", "send_invoice"] | None = None


class TaxSettings(Open):
    enabled: bool | None = None
    enforced: bool | None = None


class Workflow(Open):
    collection: CollectionSettings | None = None
    invoicing: InvoicingSettings | None = None
    payment: PaymentSettings | None = None
    tax: TaxSettings | None = None


class WorkflowSettings(Open):
    """``InvoiceWorkflowSettings``."""

    apps: AppReferences | None = None
    sourceBillingProfileId: Ulid
    workflow: Workflow


class ValidationIssue(Open):
    """``ValidationIssue``: a stored record, so an id and timestamps of its own."""

    createdAt: DateTime
    updatedAt: DateTime
    deletedAt: DateTime | None = None
    id: Ulid
    severity: Literal["critical", "warning"]
    field: str | None = None
    code: str | None = None
    component: str
    message: str
    metadata: Metadata | None = None


class InvoiceExternalIds(Open):
    invoicing: str | None = None
    tax: str | None = None
    payment: str | None = None


class LineExternalIds(Open):
    invoicing: str | None = None
    tax: str | None = None


class IdResource(Open):
    id: Ulid


class SubscriptionReference(Open):
    """``InvoiceLineSubscriptionReference``: all four parts required."""

    subscription: IdResource
    phase: IdResource
    item: IdResource
    billingPeriod: Period


class InvoiceReference(Open):
    id: Ulid
    number: Name | None = None


class TaxConfig(Open):
    behavior: Literal["inclusive", "exclusive"] | None = None
    taxCodeId: Ulid | None = None


class FlatPrice(Open):
    type: Literal["flat"]
    amount: Numeric
    paymentTerm: Literal["in_advance", "in_arrears"] | None = None


class UnitPrice(Open):
    type: Literal["unit"]
    amount: Numeric
    minimumAmount: Numeric | None = None
    maximumAmount: Numeric | None = None


Price = Annotated[FlatPrice | UnitPrice, Field(discriminator="type")]


class LineRateCard(Open):
    """``InvoiceUsageBasedRateCard``: the price is required (and may be null)."""

    featureKey: Key | None = None
    taxConfig: TaxConfig | None = None
    price: Price | None


class DetailedLineRateCard(Open):
    """``InvoiceDetailedLineRateCard``: a detailed line is always priced flat."""

    taxConfig: TaxConfig | None = None
    price: FlatPrice | None
    quantity: Numeric | None = None


class _LineBase(Open):
    """What parent and detailed lines share (required in both)."""

    name: Name
    description: str | None = None
    metadata: Metadata | None = None
    createdAt: DateTime
    updatedAt: DateTime
    deletedAt: DateTime | None = None
    id: Ulid
    managedBy: Literal["subscription", "system", "manual"]
    status: Literal["valid", "detailed", "split"]
    invoice: InvoiceReference | None = None
    currency: Currency
    taxConfig: TaxConfig | None = None
    totals: Totals
    period: Period
    invoiceAt: DateTime
    externalIds: LineExternalIds | None = None
    subscription: SubscriptionReference | None = None


class DetailedLine(_LineBase):
    """``InvoiceDetailedLine``: one priced component of a line, always ``flat_fee``."""

    type: Literal["flat_fee"]
    perUnitAmount: Numeric | None = None
    paymentTerm: Literal["in_advance", "in_arrears"] | None = None
    quantity: Numeric | None = None
    rateCard: DetailedLineRateCard | None = None
    category: Literal["regular", "commitment"] | None = None


class Line(_LineBase):
    """``InvoiceLine``: every line of an invoice is ``usage_based``; a flat fee is a flat price."""

    type: Literal["usage_based"]
    price: Price | None = None
    featureKey: Key | None = None
    children: list[DetailedLine] | None = None
    rateCard: LineRateCard | None = None
    quantity: Numeric | None = None
    meteredQuantity: Numeric | None = None
    preLinePeriodQuantity: Numeric | None = None
    meteredPreLinePeriodQuantity: Numeric | None = None


class Invoice(Open):
    """``Invoice`` (v1), as the HTTP API answers it and as webhook bodies carry it."""

    id: Ulid
    description: str | None = None
    metadata: Metadata | None = None
    createdAt: DateTime
    updatedAt: DateTime
    deletedAt: DateTime | None = None
    type: Literal["standard", "credit_note"]
    supplier: Party
    customer: InvoiceCustomer
    number: Name
    currency: Currency
    totals: Totals
    status: str
    statusDetails: StatusDetails
    issuedAt: DateTime | None = None
    draftUntil: DateTime | None = None
    quantitySnapshotedAt: DateTime | None = None
    collectionAt: DateTime | None = None
    dueAt: DateTime | None = None
    period: Period | None = None
    voidedAt: DateTime | None = None
    sentToCustomerAt: DateTime | None = None
    workflow: WorkflowSettings
    lines: list[Line] | None = None
    payment: dict[str, Any] | None = None
    validationIssues: list[ValidationIssue] | None = None
    externalIds: InvoiceExternalIds | None = None

    @model_validator(mode="after")
    def _status_in_enum(self) -> "Invoice":
        """The spec's enum or, for an invoice being deleted or deleted, a delete status outside
        it (OpenMeter's server sends the short status of ``delete.*`` there)."""
        allowed = set(get_args(InvoiceStatus))
        if self.statusDetails.extendedStatus.split(".", 1)[0] in DELETE_SHORT_STATUSES:
            allowed |= DELETE_SHORT_STATUSES
        if self.status not in allowed:
            raise ValueError(
                f"status {self.status!r} is not an InvoiceStatus "
                f"(extendedStatus {self.statusDetails.extendedStatus!r})"
            )
        return self


class InvoicePage(Open):
    """``InvoicePaginatedResponse``."""

    items: list[Invoice]
    page: int
    pageSize: int
    totalCount: int


# --- problems -------------------------------------------------------------------------------
class IssueFields(Open):
    """One billing validation issue as a problem's ``extensions`` carry it."""

    severity: Literal["critical", "warning"]
    message: str
    component: str | None = None
    code: str | None = None
    path: str | None = None


class ValidationExtensions(IssueFields):
    """The first issue's fields, and the others under ``additionalIssues``."""

    additionalIssues: list[IssueFields] | None = None


class Problem(Open):
    """``UnexpectedProblemResponse`` (v1; the 400/401/404/409 problems are the same shape).

    ``type`` and ``instance`` are URIs: ``about:blank``, ``urn:request:<id>``; a request path
    is not one. ``status``, optional in the spec, is required here and is checked against the
    HTTP status by the tests.
    """

    type: Uri
    title: str
    status: Annotated[int, Field(ge=400, le=599)]
    detail: str
    instance: Uri
    extensions: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _extensions_shape(self) -> "Problem":
        """Extensions that carry an issue (``severity``) must carry a whole one."""
        if isinstance(self.extensions, dict) and "severity" in self.extensions:
            ValidationExtensions.model_validate(self.extensions, strict=True)
        return self


class ProblemV3(Open):
    """v3 ``BaseError``: status, title, instance and detail required."""

    type: str | None = None
    status: Annotated[int, Field(ge=400, le=599)]
    title: str
    instance: str
    detail: str


class InvalidParameter(Closed):
    field: str
    reason: str
    rule: str | None = None
    source: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    choices: list[Any] | None = None
    dependents: list[Any] | None = None


class BadRequestV3(ProblemV3):
    """v3 ``BadRequestError``: which parameters were wrong, at least one."""

    invalid_parameters: Annotated[list[InvalidParameter], Field(min_length=1)]


# --- apps -----------------------------------------------------------------------------------
class Capability(Open):
    type: Literal["reportUsage", "reportEvents", "calculateTax", "invoiceCustomers", "collectPayments"]
    key: Key
    name: str
    description: str


InstallMethod = Literal["with_oauth2", "with_api_key", "no_credentials_required"]


class Listing(Open):
    """``MarketplaceListing``."""

    type: Literal["stripe", "sandbox", "custom_invoicing"]
    name: str
    description: str
    capabilities: list[Capability]
    installMethods: list[InstallMethod]


class CustomInvoicingApp(Open):
    """``CustomInvoicingApp`` (v1), the ``custom_invoicing`` member of ``App``."""

    id: Ulid
    name: Name
    description: str | None = None
    metadata: Metadata | None = None
    createdAt: DateTime
    updatedAt: DateTime
    deletedAt: DateTime | None = None
    listing: Listing
    status: Literal["ready", "unauthorized"]
    type: Literal["custom_invoicing"]
    enableDraftSyncHook: bool
    enableIssuingSyncHook: bool


class AppPage(Open):
    """``AppPaginatedResponse``; every app the simulator has is a custom-invoicing one."""

    items: list[CustomInvoicingApp]
    page: int
    pageSize: int
    totalCount: int


class CapabilityV3(Closed):
    type: Literal["report_usage", "report_events", "calculate_tax", "invoice_customers", "collect_payments"]
    key: Key
    name: str
    description: str


class CatalogItemV3(Closed):
    """``BillingAppCatalogItem``: the app's definition, with capabilities and install methods."""

    type: Literal["sandbox", "stripe", "external_invoicing"]
    name: str
    description: str
    capabilities: list[CapabilityV3]
    install_methods: list[InstallMethod]


class ExternalInvoicingAppV3(Closed):
    """``BillingAppExternalInvoicing`` (v3, snake_case, no extra properties)."""

    id: UlidV3
    name: Name
    description: str | None = None
    labels: Labels | None = None
    created_at: DateTime
    updated_at: DateTime
    deleted_at: DateTime | None = None
    type: Literal["external_invoicing"]
    definition: CatalogItemV3
    status: Literal["ready", "unauthorized"]
    enable_draft_sync_hook: bool
    enable_issuing_sync_hook: bool


# --- webhook bodies -------------------------------------------------------------------------
class InvoiceCreatedPayload(Open):
    """``NotificationEventInvoiceCreatedPayload``."""

    id: Ulid
    type: Literal["invoice.created"]
    timestamp: DateTime
    data: Invoice


class InvoiceUpdatedPayload(Open):
    """``NotificationEventInvoiceUpdatedPayload``."""

    id: Ulid
    type: Literal["invoice.updated"]
    timestamp: DateTime
    data: Invoice


WEBHOOK_PAYLOADS: dict[str, type[BaseModel]] = {
    "invoice.created": InvoiceCreatedPayload,
    "invoice.updated": InvoiceUpdatedPayload,
}
"""The webhook body model of each event type OpenMeter sends as a webhook."""


# --- the notification API (v1) ---------------------------------------------------------------
DeliveryState = Literal["SUCCESS", "FAILED", "SENDING", "PENDING", "RESENDING"]
SigningSecret = Annotated[str, StringConstraints(pattern=r"^(whsec_)?[a-zA-Z0-9+/=]{32,100}$")]


class _Resource(Open):
    """What every channel and rule carries: id, times (``deletedAt`` once deleted), name."""

    id: Ulid
    createdAt: DateTime
    updatedAt: DateTime
    deletedAt: DateTime | None = None
    name: Name
    disabled: bool | None = None
    annotations: dict[str, Any] | None = None
    metadata: Metadata | None = None


class NotificationChannel(_Resource):
    """``NotificationChannelWebhook`` (the only channel type): a URL, custom headers and the
    ``whsec_`` secret its deliveries are signed with."""

    type: Literal["WEBHOOK"]
    url: str
    customHeaders: dict[str, str] | None = None
    signingSecret: SigningSecret | None = None


class ChannelMeta(Open):
    """``NotificationChannelMeta``: a channel as rules and delivery statuses name it."""

    id: Ulid
    type: Literal["WEBHOOK"]


class InvoiceRule(_Resource):
    """``NotificationRuleInvoiceCreated`` / ``…Updated`` (the rule types served)."""

    type: Literal["invoice.created", "invoice.updated"]
    channels: list[ChannelMeta]


class AttemptResponse(Open):
    """``EventDeliveryAttemptResponse``: ``body`` and ``durationMs`` always, a status code
    when the endpoint answered."""

    statusCode: int | None = None
    body: str
    durationMs: int
    url: str | None = None


class DeliveryAttempt(Open):
    """``NotificationEventDeliveryAttempt``."""

    state: DeliveryState
    response: AttemptResponse
    timestamp: DateTime


class DeliveryStatus(Open):
    """``NotificationEventDeliveryStatus``: one per channel the event goes to."""

    state: DeliveryState
    reason: str
    updatedAt: DateTime
    channel: ChannelMeta
    annotations: dict[str, Any] | None = None
    nextAttempt: DateTime | None = None
    attempts: list[DeliveryAttempt]


class NotificationEvent(Open):
    """``NotificationEvent`` of an invoice rule: its payload is the webhook body itself."""

    id: Ulid
    type: Literal["invoice.created", "invoice.updated"]
    createdAt: DateTime
    rule: InvoiceRule
    deliveryStatus: list[DeliveryStatus]
    payload: InvoiceCreatedPayload | InvoiceUpdatedPayload
    annotations: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _payload_is_this_event(self) -> "NotificationEvent":
        """The payload's ``id`` and ``type`` are the event's (the webhook id is the event id)."""
        if (self.payload.id, self.payload.type) != (self.id, self.type):
            raise ValueError("the payload's id and type are not the event's")
        if self.rule.type != self.type:
            raise ValueError("the event's type is not its rule's")
        return self


class _Page(Open):
    totalCount: Annotated[int, Field(ge=0)]
    page: Annotated[int, Field(ge=1)]
    pageSize: Annotated[int, Field(ge=1)]


class ChannelPage(_Page):
    """``NotificationChannelPaginatedResponse``."""

    items: list[NotificationChannel]


class RulePage(_Page):
    """``NotificationRulePaginatedResponse`` (of invoice rules)."""

    items: list[InvoiceRule]


class EventPage(_Page):
    """``NotificationEventPaginatedResponse``."""

    items: list[NotificationEvent]
