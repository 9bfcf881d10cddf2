"""The invoice in v3's shape (``BillingInvoiceStandard``), mapped from its v1 shape.

The v1 JSON (``Service.invoice_v1``) is the one rendering of an invoice; v3 shows the same
facts with snake_case names and its own structure, as OpenMeter maps both from one domain
invoice: ``service_period``, ``status_details.available_actions`` (without ``void`` and
``invoice``), ``external_references``, ``labels`` (the metadata entries that are valid
labels), lines as ``standard_line`` with a ``rate_card`` and ``detailed_lines``.
"""

import re
from typing import Any

LABEL_KEY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
V3_ACTIONS = {
    "advance": "advance",
    "approve": "approve",
    "delete": "delete",
    "retry": "retry",
    "snapshotQuantities": "snapshot_quantities",
}
TOTALS = {
    "amount": "amount",
    "taxesTotal": "taxes_total",
    "taxesInclusiveTotal": "taxes_inclusive_total",
    "taxesExclusiveTotal": "taxes_exclusive_total",
    "chargesTotal": "charges_total",
    "discountsTotal": "discounts_total",
    "creditsTotal": "credits_total",
    "total": "total",
}
ADDRESS = {
    "country": "country",
    "postalCode": "postal_code",
    "state": "state",
    "city": "city",
    "line1": "line1",
    "line2": "line2",
    "phoneNumber": "phone_number",
}


def _present(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is not None}


def _totals(totals: dict[str, str]) -> dict[str, str]:
    return {v3: totals.get(v1, "0") for v1, v3 in TOTALS.items()}


def _period(period: dict[str, str]) -> dict[str, str]:
    return {"from": period["from"], "to": period["to"]}


def _address(addresses: list[dict[str, str]] | None) -> dict[str, str] | None:
    if not addresses:
        return None
    return {v3: addresses[0][v1] for v1, v3 in ADDRESS.items() if addresses[0].get(v1)} or None


def _labels(metadata: dict[str, str] | None) -> dict[str, str]:
    """Metadata entries that are valid labels (others are left out, as OpenMeter does)."""
    return {
        k: v
        for k, v in (metadata or {}).items()
        if len(k) <= 63 and len(v) <= 63 and LABEL_KEY.match(k) and LABEL_KEY.match(v)
    }


def _external(ids: dict[str, str] | None, *names: str) -> dict[str, str] | None:
    found = {f"{name}_id": ids[name] for name in names if ids and ids.get(name)}
    return found or None


def _price(line: dict[str, Any]) -> dict[str, str]:
    """The line's price: v1 ``price`` (or ``rateCard.price``), else a flat fee's amount."""
    price = line.get("price") or (line.get("rateCard") or {}).get("price")
    if price is None:
        return {"type": "flat", "amount": line.get("perUnitAmount", "0")}
    return {k: price[k] for k in ("type", "amount") if k in price}


def _detailed(line: dict[str, Any], unit_price: str | None = None) -> dict[str, Any]:
    return _present(
        {
            "id": line["id"],
            "name": line["name"],
            "created_at": line["createdAt"],
            "updated_at": line["updatedAt"],
            "deleted_at": line.get("deletedAt"),
            "service_period": _period(line["period"]),
            "totals": _totals(line["totals"]),
            "category": line.get("category", "regular"),
            "external_references": _external(line.get("externalIds"), "invoicing"),
            "quantity": line.get("quantity", "1"),
            "unit_price": line.get("perUnitAmount", unit_price or "0"),
        }
    )


def _line(line: dict[str, Any]) -> dict[str, Any]:
    price = _price(line)
    rate_card = line.get("rateCard") or {}
    feature_key = rate_card.get("featureKey") or line.get("featureKey")
    children = line.get("children")
    subscription = line.get("subscription")
    return _present(
        {
            "id": line["id"],
            "name": line["name"],
            "labels": _labels(line.get("metadata")) or None,
            "created_at": line["createdAt"],
            "updated_at": line["updatedAt"],
            "deleted_at": line.get("deletedAt"),
            "type": "standard_line",
            "lifecycle_controller": "manual" if line.get("managedBy") == "manual" else "system",
            "service_period": _period(line["period"]),
            "totals": _totals(line["totals"]),
            "external_references": _external(line.get("externalIds"), "invoicing"),
            "subscription": {
                "id": subscription["subscription"]["id"],
                "phase": {"id": subscription["phase"]["id"], "item": {"id": subscription["item"]["id"]}},
            }
            if subscription
            else None,
            "rate_card": _present({"price": price, "feature_key": feature_key}),
            # A line rendered without detailed lines is its own single detailed line.
            "detailed_lines": [_detailed(child) for child in children]
            if children is not None
            else [_detailed(line, price.get("amount"))],
        }
    )


def invoice_v3(v1: dict[str, Any], *, with_lines: bool = True) -> dict[str, Any]:
    """``v1`` (an invoice in the v1 shape) in the v3 shape; lines only ``with_lines``."""
    details = v1["statusDetails"]
    workflow = v1["workflow"]
    settings = workflow["workflow"]
    apps = workflow.get("apps") or {}
    customer = v1["customer"]
    attribution = customer.get("usageAttribution")
    supplier = v1["supplier"]
    supplier_address = _address(supplier.get("addresses"))
    return _present(
        {
            "id": v1["id"],
            "labels": _labels(v1.get("metadata")),
            "created_at": v1["createdAt"],
            "updated_at": v1["updatedAt"],
            "deleted_at": v1.get("deletedAt"),
            "number": v1["number"],
            "currency": v1["currency"],
            "supplier": _present(
                {
                    "id": supplier.get("id"),
                    "name": supplier.get("name"),
                    "addresses": {"billing_address": supplier_address} if supplier_address else None,
                }
            ),
            "customer": _present(
                {
                    "id": customer["id"],
                    "key": customer.get("key"),
                    "name": customer["name"],
                    "usage_attribution": {"subject_keys": attribution["subjectKeys"]}
                    if attribution
                    else None,
                    "billing_address": _address(customer.get("addresses")),
                }
            ),
            "totals": _totals(v1["totals"]),
            "service_period": _period(v1["period"]),
            "validation_issues": [
                _present(
                    {
                        "code": issue.get("code", ""),
                        "message": issue["message"],
                        "severity": issue["severity"],
                        "field": issue.get("path") or issue.get("field"),
                    }
                )
                for issue in v1.get("validationIssues", [])
            ]
            or None,
            "external_references": _external(v1.get("externalIds"), "invoicing", "payment"),
            "type": "standard",
            "status": v1["status"],
            "status_details": {
                "immutable": details["immutable"],
                "failed": details["failed"],
                "extended_status": details["extendedStatus"],
                "available_actions": {
                    V3_ACTIONS[name]: {"resulting_state": action["resultingState"]}
                    for name, action in details["availableActions"].items()
                    if name in V3_ACTIONS
                },
            },
            "issued_at": v1.get("issuedAt"),
            "draft_until": v1.get("draftUntil"),
            "quantity_snapshotted_at": v1.get("quantitySnapshotedAt"),
            "collection_at": v1.get("collectionAt") or v1["createdAt"],
            "due_at": v1.get("dueAt"),
            "sent_to_customer_at": v1.get("sentToCustomerAt"),
            "workflow": _present(
                {
                    "apps": {kind: {"id": apps[kind]["id"]} for kind in ("tax", "invoicing", "payment")}
                    if all((apps.get(kind) or {}).get("id") for kind in ("tax", "invoicing", "payment"))
                    else None,
                    "source_billing_profile": {"id": workflow["sourceBillingProfileId"]},
                    "workflow": {
                        "invoicing": _present(
                            {
                                "auto_advance": settings["invoicing"].get("autoAdvance"),
                                "draft_period": settings["invoicing"].get("draftPeriod"),
                                "due_after": settings["invoicing"].get("dueAfter"),
                            }
                        ),
                        "payment": _present(
                            {
                                "collection_method": settings["payment"]["collectionMethod"],
                                "due_after": settings["invoicing"].get("dueAfter")
                                if settings["payment"]["collectionMethod"] == "send_invoice"
                                else None,
                            }
                        ),
                    },
                }
            ),
            "lines": [_line(line) for line in v1.get("lines", [])] or None if with_lines else None,
        }
    )
