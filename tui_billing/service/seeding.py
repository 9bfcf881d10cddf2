"""Faker-made customers, plans and subscriptions: the same seed gives the same workspace."""

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from faker import Faker

from ..domain.durations import add_months
from ..domain.models import Address, Customer, Plan, Subscription

# (currency, countries, tax rates): tax rates make demos show a non-zero tax (docs/invoice-generated.md).
REGIONS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("USD", ("US",), ("0", "0.0725", "0.0825")),
    ("EUR", ("DE", "FR", "NL"), ("0.19", "0.20", "0.21")),
    ("GBP", ("GB",), ("0.20",)),
    ("JPY", ("JP",), ("0.10",)),
    ("BHD", ("BH",), ("0.10",)),
)
# (key, name, flat fee, unit price) per currency.
PLAN_PRICES: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "USD": (("starter", "Starter", "49.00", "0.002"), ("pro", "Pro", "499.00", "0.0015")),
    "EUR": (("starter", "Starter", "45.00", "0.002"), ("pro", "Pro", "459.00", "0.0014")),
    "GBP": (("starter", "Starter", "39.00", "0.0016"), ("pro", "Pro", "399.00", "0.0012")),
    "JPY": (("starter", "Starter", "7000", "0.3"), ("pro", "Pro", "70000", "0.2")),
    "BHD": (("starter", "Starter", "18.500", "0.0008"), ("pro", "Pro", "188.000", "0.0006")),
}


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "customer"


def make_plans(new_id: Callable[[], str]) -> list[Plan]:
    return [
        Plan(
            id=new_id(),
            key=f"{key}-{currency.lower()}",
            name=f"{name} ({currency})",
            currency=currency,
            flat_fee_name=f"{name} platform fee",
            flat_fee=Decimal(flat),
            usage_name="API requests",
            usage_unit="request",
            unit_price=Decimal(unit),
        )
        for currency, prices in PLAN_PRICES.items()
        for key, name, flat, unit in prices
    ]


def make_customers(
    seed: int, count: int, now: datetime, plans: list[Plan], new_id: Callable[[], str]
) -> tuple[list[Customer], list[Subscription]]:
    """``count`` customers, each subscribed to a plan in its currency, billed monthly from now."""
    fake = Faker("en_US")
    fake.seed_instance(seed)
    customers: list[Customer] = []
    subscriptions: list[Subscription] = []
    keys: set[str] = set()
    for index in range(count):
        currency, countries, tax_rates = REGIONS[index % len(REGIONS)]
        name = fake.company()
        key = slug(name)
        while key in keys:
            key = f"{slug(name)}-{len(keys)}"
        keys.add(key)
        plan = fake.random_element([p for p in plans if p.currency == currency])
        customer = Customer(
            id=new_id(),
            key=key,
            name=name,
            email=fake.company_email(),
            address=Address(
                country=fake.random_element(countries),
                city=fake.city(),
                postal_code=fake.postcode(),
                line1=fake.street_address(),
            ),
            currency=currency,
            tax_rate=Decimal(fake.random_element(tax_rates)),
            plan_id=plan.id,
            created_at=now,
        )
        customers.append(customer)
        subscriptions.append(
            Subscription(
                id=new_id(),
                customer_id=customer.id,
                plan_id=plan.id,
                started_at=now,
                period_start=now,
                period_end=add_months(now, 1),
            )
        )
    return customers, subscriptions


_quantities = Faker("en_US")


def usage_quantity(seed: int, key: str) -> Decimal:
    """A plausible metered quantity, the same for the same seed and key."""
    _quantities.seed_instance(f"{seed}:{key}")
    return Decimal(_quantities.random_int(min=1_000, max=250_000))
