"""Query parameters, read strictly: a bad value is a 400 problem naming the parameter.

v1 parameters are OpenMeter's ``form`` style (a list repeated, ``?a=x&a=y``, or
comma-separated); v3's are ``deepObject`` (``page[size]=10``, ``filter[status][oeq]=a,b``).
"""

from collections.abc import Callable, Iterable
from datetime import datetime

from multidict import MultiMapping

from ..domain.errors import InvalidValue
from ..domain.invoice_query import ORDER_FIELDS, InvoiceQuery, TimeRange
from ..domain.status import Status
from ..domain.timefmt import parse_rfc3339
from .problems import ApiProblem, Parameter

V1_STATUSES = frozenset(
    {
        "gathering",
        "draft",
        "issuing",
        "issued",
        "payment_processing",
        "overdue",
        "paid",
        "uncollectible",
        "voided",
    }
)
"""v1's ``InvoiceStatus`` enum (deleted invoices are found by extended status)."""
EXTENDED_STATUSES = frozenset(s.value for s in Status)
EXPANDS = frozenset({"lines", "preceding", "workflow.apps"})
ORDERS = frozenset({"ASC", "DESC"})
MAX_PAGE_SIZE = 1000
PAGE = frozenset({"page", "pageSize"})
INVOICE_LIST = PAGE | {
    "statuses",
    "extendedStatuses",
    "issuedAfter",
    "issuedBefore",
    "periodStartAfter",
    "periodStartBefore",
    "createdAfter",
    "createdBefore",
    "expand",
    "customers",
    "includeDeleted",
    "order",
    "orderBy",
}
"""The query parameters of ``GET /api/v1/billing/invoices``."""
INVOICE_GET = frozenset({"expand", "includeDeletedLines"})


def bad(name: str, reason: str, rule: str | None = "invalid") -> ApiProblem:
    return ApiProblem(400, f"{name}: {reason}", parameters=[Parameter(name, reason, "query", rule)])


def check_known(query: MultiMapping[str], known: Iterable[str]) -> None:
    """Refuse a parameter the operation does not take (never silently ignored)."""
    allowed = frozenset(known)
    unknown = sorted({name for name in query if name not in allowed})
    if unknown:
        takes = f"it takes {', '.join(sorted(allowed))}" if allowed else "it takes none"
        raise ApiProblem(
            400,
            f"unknown query parameter {', '.join(unknown)}; {takes}",
            parameters=[
                Parameter(name, "unknown query parameter", "query", "unknown_property") for name in unknown
            ],
        )


def single(query: MultiMapping[str], name: str) -> str | None:
    values = query.getall(name, [])
    if len(values) > 1:
        raise bad(name, "give it once")
    return values[0] if values else None


def values(query: MultiMapping[str], name: str, allowed: frozenset[str] | None = None) -> frozenset[str]:
    """A list parameter, repeated or comma-separated; each value checked when ``allowed``."""
    found = frozenset(v.strip() for raw in query.getall(name, []) for v in raw.split(",") if v.strip())
    unknown = sorted(found - allowed) if allowed is not None else []
    if unknown:
        raise bad(name, f"unknown value {', '.join(unknown)}; use {', '.join(sorted(allowed or ()))}")
    return found


def integer(query: MultiMapping[str], name: str, default: int, low: int, high: int) -> int:
    text = single(query, name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise bad(name, f"must be an integer, got {text!r}", "is_integer") from None
    if not low <= value <= high:
        raise bad(name, f"must be between {low} and {high}, got {value}")
    return value


def flag(query: MultiMapping[str], name: str) -> bool:
    text = single(query, name)
    if text is None:
        return False
    if text not in ("true", "false"):
        raise bad(name, f"must be true or false, got {text!r}", "is_boolean")
    return text == "true"


def moment(query: MultiMapping[str], name: str) -> datetime | None:
    text = single(query, name)
    if text is None:
        return None
    try:
        # A '+' of an unencoded offset arrives as a space.
        return parse_rfc3339(text.replace(" ", "+"), name)
    except InvalidValue as error:
        raise bad(name, str(error).removeprefix(f"{name} "), "is_date_time") from None


def ulids(query: MultiMapping[str], name: str, pattern_ok: Callable[[str], bool]) -> frozenset[str]:
    found = values(query, name)
    wrong = sorted(v for v in found if not pattern_ok(v))
    if wrong:
        raise bad(name, f"{', '.join(wrong)} is not a ULID", "matches_regex")
    return found


def invoice_list(
    query: MultiMapping[str], is_id: Callable[[str], bool]
) -> tuple[InvoiceQuery, frozenset[str]]:
    """``GET /api/v1/billing/invoices``: the query, and what to expand."""
    order = single(query, "order") or "ASC"
    if order not in ORDERS:
        raise bad("order", f"must be ASC or DESC, got {order!r}")
    order_by = single(query, "orderBy") or "createdAt"
    if order_by not in ORDER_FIELDS:
        raise bad("orderBy", f"unknown value {order_by!r}; use {', '.join(ORDER_FIELDS)}")
    parsed = InvoiceQuery(
        customers=ulids(query, "customers", is_id),
        statuses=values(query, "statuses", V1_STATUSES),
        extended_statuses=values(query, "extendedStatuses", EXTENDED_STATUSES),
        issued=TimeRange(moment(query, "issuedAfter"), moment(query, "issuedBefore")),
        period_start=TimeRange(moment(query, "periodStartAfter"), moment(query, "periodStartBefore")),
        created=TimeRange(moment(query, "createdAfter"), moment(query, "createdBefore")),
        include_deleted=flag(query, "includeDeleted"),
        order_by=order_by,  # type: ignore[arg-type]
        descending=order == "DESC",
        page=integer(query, "page", 1, 1, 1_000_000),
        page_size=integer(query, "pageSize", 100, 1, MAX_PAGE_SIZE),
    )
    return parsed, values(query, "expand", EXPANDS)


# --- v3 -------------------------------------------------------------------------------------
PAGE_V3 = frozenset({"page[size]", "page[number]"})
V3_PAGE_SIZE = 20


def page_v3(query: MultiMapping[str]) -> tuple[int, int]:
    """``page[number]`` and ``page[size]`` (v3's PagePaginationQuery; 1 and 20 by default)."""
    return (
        integer(query, "page[number]", 1, 1, 1_000_000),
        integer(query, "page[size]", V3_PAGE_SIZE, 1, MAX_PAGE_SIZE),
    )


V3_STATUSES = V1_STATUSES - {"gathering"}
V3_SORTS = {"created_at": "createdAt", "issued_at": "issuedAt", "service_period_start": "periodStart"}
INVOICE_LIST_V3 = (
    PAGE_V3
    | {"sort"}
    | {f"filter[{name}]{op}" for name in ("status", "customer_id") for op in ("", "[eq]", "[oeq]")}
    | {
        f"filter[{name}]{op}"
        for name in ("issued_at", "service_period_start", "created_at")
        for op in ("", "[eq]", "[gt]", "[gte]", "[lt]", "[lte]")
    }
)
"""The query parameters of v3's ``GET /openmeter/billing/invoices`` (``neq`` is not supported)."""


def _one_of(query: MultiMapping[str], name: str) -> frozenset[str]:
    """A v3 exact filter: ``filter[x]=a`` or ``[eq]=a`` (one value), ``[oeq]=a,b`` (any of them)."""
    found: set[str] = set()
    for suffix in ("", "[eq]"):
        text = single(query, f"filter[{name}]{suffix}")
        if text is not None:
            found.add(text)
    found |= values(query, f"filter[{name}][oeq]")
    return frozenset(found)


def _time_filter(query: MultiMapping[str], name: str) -> TimeRange:
    key = f"filter[{name}]"
    eq = moment(query, key) or moment(query, key + "[eq]")
    gt, gte, lt, lte = (moment(query, f"{key}[{op}]") for op in ("gt", "gte", "lt", "lte"))
    if (eq is not None and any((gt, gte, lt, lte))) or (gt and gte) or (lt and lte):
        raise bad(key, "give eq alone, or at most one of gt/gte and one of lt/lte")
    if eq is not None:
        return TimeRange(eq, eq)
    after, before = gt or gte, lt or lte
    return TimeRange(after, before, after_inclusive=gt is None, before_inclusive=lt is None)


def invoice_list_v3(query: MultiMapping[str], is_id: Callable[[str], bool]) -> InvoiceQuery:
    """v3's ``GET /openmeter/billing/invoices``: deepObject filters, ``sort``, page."""
    statuses = _one_of(query, "status")
    unknown = sorted(statuses - V3_STATUSES)
    if unknown:
        raise bad(
            "filter[status]", f"unknown value {', '.join(unknown)}; use {', '.join(sorted(V3_STATUSES))}"
        )
    customers = _one_of(query, "customer_id")
    wrong = sorted(c for c in customers if not is_id(c))
    if wrong:
        raise bad("filter[customer_id]", f"{', '.join(wrong)} is not a ULID", "matches_regex")
    field, _, direction = (single(query, "sort") or "created_at").strip().partition(" ")
    if field not in V3_SORTS or direction.strip().lower() not in ("", "asc", "desc"):
        raise bad("sort", f"sort by {', '.join(V3_SORTS)}, optionally followed by asc or desc")
    number, size = page_v3(query)
    return InvoiceQuery(
        customers=customers,
        statuses=statuses,
        issued=_time_filter(query, "issued_at"),
        period_start=_time_filter(query, "service_period_start"),
        created=_time_filter(query, "created_at"),
        order_by=V3_SORTS[field],  # type: ignore[arg-type]
        descending=direction.strip().lower() == "desc",
        page=number,
        page_size=size,
    )
