"""Outside activity: the API calls a partner's system makes, named by what they do.

``operation`` names a call ("draft synchronized", "payment status: paid", "notification
rule test"); ``ActivityStrip`` is the dashboard's one line of the latest calls. Calls are
the API's ``ApiCall`` records, read by attribute: the dashboard never imports the API.
"""

import json
from collections.abc import Callable, Iterable
from itertools import islice
from typing import TYPE_CHECKING, Any

from textual.content import Content
from textual.widget import Widget

if TYPE_CHECKING:
    from ...api import ApiCall

OPERATIONS = {
    "draft_synchronized": "draft synchronized",
    "issuing_synchronized": "issuing synchronized",
    "payment_status": "payment status",
    "list_invoices": "invoice list",
    "get_invoice": "invoice get",
    "replace_invoice": "invoice replace",
    "delete_invoice": "invoice delete",
    "advance": "invoice advance",
    "approve": "invoice approve",
    "retry": "invoice retry",
    "snapshot_quantities": "snapshot quantities",
    "void_invoice": "invoice void",
    "list_invoices_v3": "invoice list (v3)",
    "get_invoice_v3": "invoice get (v3)",
    "advance_v3": "invoice advance (v3)",
    "approve_v3": "invoice approve (v3)",
    "retry_v3": "invoice retry (v3)",
    "snapshot_quantities_v3": "snapshot quantities (v3)",
    "list_apps_v1": "app list",
    "get_app_v1": "app get",
    "put_app_v1": "app replace",
    "list_apps_v3": "app list (v3)",
    "get_app_v3": "app get (v3)",
    "put_app_v3": "app replace (v3)",
    "list_channels": "notification channel list",
    "create_channel": "notification channel create",
    "get_channel": "notification channel get",
    "update_channel": "notification channel update",
    "delete_channel": "notification channel delete",
    "list_rules": "notification rule list",
    "create_rule": "notification rule create",
    "get_rule": "notification rule get",
    "update_rule": "notification rule update",
    "delete_rule": "notification rule delete",
    "test_rule": "notification rule test",
    "list_events": "notification event list",
    "get_event": "notification event get",
    "resend_event": "notification event resend",
}
"""Each operation's handler name (``ApiCall.operation``) → what the call does, in words."""


def body_json(body: bytes) -> Any:
    """A call's body as JSON; None when empty or not JSON (cut, or another type)."""
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def operation(call: "ApiCall") -> str:
    """What the call did: "draft synchronized", "payment status: paid"; a call no route
    answered is named by its method and path."""
    if call.operation is None:
        return f"{call.method} {call.path.split('?', 1)[0]}"
    words = OPERATIONS.get(call.operation, call.operation.replace("_", " "))
    if call.operation == "payment_status":
        body = body_json(call.request_body)
        if isinstance(body, dict) and isinstance(body.get("trigger"), str):
            words = f"{words}: {body['trigger']}"
    return words


def invoice_number(call: "ApiCall", numbers: Callable[[str], str | None]) -> str:
    """The number of the invoice the call was about (as the dashboard shows it now), from
    its path id, else from an answer that is an invoice; empty when it was about none."""
    if call.invoice_id:
        return numbers(call.invoice_id) or call.invoice_id
    answer = body_json(call.response_body)
    if isinstance(answer, dict) and isinstance(answer.get("number"), str) and "lines" in answer:
        return str(answer["number"])
    return ""


class ActivityStrip(Widget):
    """One line under the app bar while the dashboard serves the API (or once a call came
    in): where it serves, then the latest calls, newest first, each as its operation, the
    invoice and the status code."""

    DEFAULT_CSS = """
    ActivityStrip { height: 1; background: $panel; padding: 0 1; display: none; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entries: list[tuple[str, str, int]] = []
        """(operation, invoice number, status code), newest first."""
        self.status = ""

    def show(self, calls: Iterable["ApiCall"], numbers: Callable[[str], str | None], status: str) -> None:
        """Show the newest ``calls`` (given newest first); ``status`` is what the app says of
        the API it serves ("API http://… · callbacks → …"), empty when it serves none."""
        self.entries = [(operation(c), invoice_number(c, numbers), c.status) for c in islice(calls, 12)]
        self.status = status
        self.display = bool(self.entries or status)
        self.refresh()

    def render(self) -> Content:
        if not self.entries:
            return Content.assemble(
                (self.status, "bold $accent"), (" · no calls yet: your system's show here", "$text-muted")
            )
        where = self.status.split(" · ", 1)[0].replace("http://", "") or "API calls"
        parts = [Content.styled(f"{where} ←", "bold $accent")]
        for name, number, status in self.entries:
            parts.append(
                Content.assemble(
                    " ",
                    name,
                    (f" {number}" if number else "", "$text-muted"),
                    (f" {status}", "bold $error" if status >= 400 else "bold $success"),
                    (" ·", "$text-muted"),
                )
            )
        return Content("").join(parts)[:-2].truncate(self.content_size.width, ellipsis=True)
