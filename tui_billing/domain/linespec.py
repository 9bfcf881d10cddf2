"""Invoice lines as people type them: ``NAME=AMOUNT`` and ``NAME=QTY@UNIT_PRICE``."""

from dataclasses import dataclass
from decimal import Decimal

from .errors import InvalidValue
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
    return Usage(name, parse_decimal(quantity, f"quantity of {name!r}"),
                 parse_decimal(price, f"unit price of {name!r}"))
