"""The installed app as OpenMeter's APIs show it: v1 (``custom_invoicing``) and v3
(``external_invoicing``), both rendered from the one ``App`` model.

The catalog entry is OpenMeter's Custom Invoicing marketplace listing; v1 names
capabilities in camelCase (``collectPayments``), v3 in snake_case (``collect_payments``).
"""

from typing import Any

from .models import App
from .timefmt import rfc3339

LISTING_NAME = "Custom Invoicing"
LISTING_DESCRIPTION = (
    "Custom Invoicing can be used to interface with third party invoicing and payment systems"
)
CAPABILITIES = (
    # (v1 type, v3 type, key, name, description)
    (
        "collectPayments",
        "collect_payments",
        "custom_invoicing_collect_payment",
        "Payment",
        "Process payments",
    ),
    (
        "calculateTax",
        "calculate_tax",
        "custom_invoicing_calculate_tax",
        "Calculate Tax",
        "Calculate tax for a payment",
    ),
    (
        "invoiceCustomers",
        "invoice_customers",
        "custom_invoicing_invoice_customer",
        "Invoice Customer",
        "Invoice a customer",
    ),
)
INSTALL_METHODS = ["no_credentials_required"]
LISTING_V1 = {
    "type": "custom_invoicing",
    "name": LISTING_NAME,
    "description": LISTING_DESCRIPTION,
    "capabilities": [
        {"type": v1, "key": key, "name": name, "description": description}
        for v1, _, key, name, description in CAPABILITIES
    ],
    "installMethods": INSTALL_METHODS,
}
DEFINITION_V3 = {
    "type": "external_invoicing",
    "name": LISTING_NAME,
    "description": LISTING_DESCRIPTION,
    "capabilities": [
        {"type": v3, "key": key, "name": name, "description": description}
        for _, v3, key, name, description in CAPABILITIES
    ],
    "install_methods": INSTALL_METHODS,
}


def _drop_none(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is not None}


def app_v1(app: App) -> dict[str, Any]:
    """The app as ``GET /api/v1/apps/{id}`` shows it."""
    return _drop_none(
        {
            "id": app.id,
            "type": "custom_invoicing",
            "name": app.name,
            "description": app.description,
            "metadata": dict(app.labels) or None,
            "createdAt": rfc3339(app.created_at),
            "updatedAt": rfc3339(app.updated_at),
            "deletedAt": rfc3339(app.deleted_at),
            "status": app.status,
            "listing": LISTING_V1,
            "enableDraftSyncHook": app.enable_draft_sync_hook,
            "enableIssuingSyncHook": app.enable_issuing_sync_hook,
        }
    )


def app_v3(app: App) -> dict[str, Any]:
    """The app as v3's ``BillingAppExternalInvoicing`` (``GET /openmeter/apps/{appId}``)."""
    return _drop_none(
        {
            "id": app.id,
            "name": app.name,
            "description": app.description,
            "labels": dict(app.labels),
            "created_at": rfc3339(app.created_at),
            "updated_at": rfc3339(app.updated_at),
            "deleted_at": rfc3339(app.deleted_at),
            "type": "external_invoicing",
            "definition": DEFINITION_V3,
            "status": app.status,
            "enable_draft_sync_hook": app.enable_draft_sync_hook,
            "enable_issuing_sync_hook": app.enable_issuing_sync_hook,
        }
    )
