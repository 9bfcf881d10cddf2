"""Invoice lines as people type them (``NAME=AMOUNT``, ``NAME=QTY@UNIT_PRICE``) and read them."""

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

from .errors import InvalidValue
from .models import DetailedLine, FlatPrice, Invoice, Line, SubscriptionRef, UnitPrice
from .money import parse_decimal


@dataclass(frozen=True)
class FlatFee:
    name: str
    amount: Decimal


@dataclass(frozen=True)
class Usage:
    name: str
    quantity: Decimal
    unit_price: Decimal


LineSpec = FlatFee | Usage


def _split_name(text: str, example: str) -> tuple[str, str]:
    name, sep, value = text.rpartition("=")
    if not sep or not name.strip() or not value.strip():
        raise InvalidValue(f"{text!r} is not a line: write it as {example}")
    return name.strip(), value.strip()


def parse_flat(text: str) -> FlatFee:
    name, amount = _split_name(text, '"NAME=AMOUNT", e.g. "Setup fee=99.00"')
    return FlatFee(name, parse_decimal(amount, f"amount of {name!r}"))


def parse_usage(text: str) -> Usage:
    name, value = _split_name(text, '"NAME=QTY@UNIT_PRICE", e.g. "API calls=12000@0.002"')
    quantity, sep, price = value.partition("@")
    if not sep:
        raise InvalidValue(f"{text!r} needs a unit price: write it as NAME=QTY@UNIT_PRICE")
    return Usage(
        name,
        parse_decimal(quantity, f"quantity of {name!r}"),
        parse_decimal(price, f"unit price of {name!r}"),
    )


def priced_line(spec: LineSpec, invoice: Invoice, line_id: str, at: datetime) -> Line:
    """The invoice line for ``spec`` over the invoice's period, detailed; under a
    subscription it names its subscription item."""
    start, end = invoice.period_from, invoice.period_to
    subscription = (
        None
        if not invoice.subscription_id
        else SubscriptionRef.of(
            invoice.subscription_id, invoice.plan_id or invoice.subscription_id, spec.name, start, end
        )
    )
    price: FlatPrice | UnitPrice
    if isinstance(spec, FlatFee):
        price, quantity, key = FlatPrice(amount=spec.amount), Decimal(1), None
    else:
        price, quantity, key = UnitPrice(amount=spec.unit_price), spec.quantity, feature_key(spec.name)
    return Line.priced(
        price=price,
        quantity=quantity,
        currency=invoice.currency,
        tax_rate=invoice.tax_rate,
        at=at,
        id=line_id,
        name=spec.name,
        feature_key=key,
        period_from=start,
        period_to=end,
        invoice_at=end,
        subscription=subscription,
        managed_by="subscription" if subscription else "manual",
    )


@lru_cache(maxsize=1024)
def feature_key(name: str) -> str | None:
    """A usage line's name as an OpenMeter feature key (``API requests`` → ``api_requests``),
    or None when no letter or digit is left."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return "_".join(re.findall(r"[a-z0-9]+", folded))[:64].strip("_") or None


def line_summary(line: Line, currency: str) -> str:
    """A line in words, for people: its price and what it bills with tax."""
    totals = line.totals(currency)
    price = (
        f"flat price {line.price.amount}"
        if isinstance(line.price, FlatPrice)
        else f"{line.quantity} × unit price {line.price.amount}"
    )
    return f"{line.name}: {price} → {totals.amount} (+{totals.taxes_total} tax)"


def detail_summary(child: DetailedLine) -> str:
    """A detailed line in words: quantity × per-unit amount = amount, and its payment term."""
    term = child.payment_term.replace("_", " ")
    return f"{child.name}: {child.quantity} × {child.per_unit_amount} = {child.totals.amount}, {term}"
