"""Money: decimals rounded to each currency's minor unit (docs/invoice-generated.md). Never floats."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from .errors import InvalidValue

# ISO 4217 minor units of the currencies the simulator offers; 2 for any other code.
MINOR_UNITS: dict[str, int] = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CHF": 2,
    "CAD": 2,
    "AUD": 2,
    "HUF": 2,
    "SEK": 2,
    "JPY": 0,
    "KRW": 0,
    "BHD": 3,
    "KWD": 3,
}
MAX_MAGNITUDE = Decimal(10) ** 12
"""The largest amount, quantity or unit price accepted: their products and sums stay
exact in Decimal's 28 significant digits."""


def minor_unit(currency: str) -> int:
    return MINOR_UNITS.get(currency.upper(), 2)


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round half up to the currency's minor unit."""
    exponent = Decimal(1).scaleb(-minor_unit(currency))
    return amount.quantize(exponent, rounding=ROUND_HALF_UP)


def parse_decimal(text: str | int | Decimal, what: str) -> Decimal:
    """A finite decimal from user input, or InvalidValue naming ``what``."""
    try:
        value = Decimal(str(text).strip())
    except (InvalidOperation, ValueError):
        raise InvalidValue(f"{what} must be a decimal number, got {text!r}") from None
    if not value.is_finite():
        raise InvalidValue(f"{what} must be a finite number, got {text!r}")
    if abs(value) >= MAX_MAGNITUDE:
        raise InvalidValue(f"{what} must be less than {MAX_MAGNITUDE:,f} in size, got {text!r}")
    return value


def to_json_number(amount: Decimal) -> int | float:
    """A JSON number for payloads whose schema wants numbers (InvoiceGenerated).

    The decimal is already rounded to currency precision, so the float's shortest repr
    prints exactly those digits.
    """
    if amount == amount.to_integral_value():
        return int(amount)
    return float(amount)
