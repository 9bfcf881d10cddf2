"""A reference External Invoicing integration: the starting point for partners.

It receives OpenMeter's invoice webhooks and answers the sync hooks through the official
``openmeter`` SDK, and passes every suite of ``tui-billing certify``. Four rules make it
correct, each in one method you can read and replace:

1. ``verify``: every delivery is checked with ``standardwebhooks`` (signature, secret,
   timestamp within five minutes); anything else is answered 400 and ignored.
2. ``first_time``: deliveries are at least once, so a webhook id already taken is
   answered 200 and not acted on again (even while the first one is still being worked on).
3. ``process``: act on the invoice's *current* state, read from the API, and only when the
   event reports that state; an older event arriving late, or a state the invoice only
   passed through (a hook that is off), changes nothing.
4. ``call``: a callback that fails for a transient reason (503, 502, 504, 429, a dropped
   connection) is retried with backoff; one refused with 4xx is logged and not repeated.
   OpenMeter's server answers a successful callback with 200 and the invoice, while the SDK
   (built from the spec) expects 204 and raises on the 200: both count as success.

Run it (Python ≥ 3.11, ``pip install openmeter==1.0.0b236 standardwebhooks``)::

    python examples/reference_partner/partner.py --port 4000 \\
        --secret whsec_... --openmeter-url http://127.0.0.1:8888

What your real system does (create the invoice in your ERP, send it, charge the customer)
goes where the comments say "your system".
"""

import argparse
import contextlib
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openmeter
import standardwebhooks
from corehttp.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from corehttp.runtime.policies import RetryPolicy

log = logging.getLogger("reference_partner")

TRANSIENT = {429, 502, 503, 504}
"""Answers worth retrying: the call changed nothing and may work a moment later."""
DONE = {200, 204}
"""A successful callback: 200 with the invoice (OpenMeter's server) or 204 (its spec)."""
OUTCOME_PREFIX = "certify:"
"""A line named ``certify:TRIGGER`` asks for that payment outcome (the certify payments
suite's stand-in for your payment provider); any other issued invoice is reported paid."""


class Refused(Exception):
    """OpenMeter refused a callback (4xx): repeating it would get the same answer."""


class Partner:
    """The integration: ``handle`` takes one webhook delivery and returns the HTTP status."""

    def __init__(
        self,
        openmeter_url: str,
        secret: str,
        *,
        token: str | None = None,
        attempts: int = 4,
        backoff: float = 0.2,
    ) -> None:
        self.webhook = standardwebhooks.Webhook(secret)
        # Retries are done by ``call`` below, in one visible place (the SDK's own policy does not
        # retry a POST whose connection dropped).
        self.client = openmeter.Client(
            endpoint=openmeter_url, token=token, retry_policy=RetryPolicy.no_retries()
        )
        self.attempts = attempts
        self.backoff = backoff
        self.seen: set[str] = set()
        self.lock = threading.Lock()
        self.numbers = itertools.count(1001)

    # --- receiving -------------------------------------------------------------------------------
    def handle(self, body: bytes, headers: Mapping[str, str]) -> int:
        try:
            event = self.verify(body, headers)
        except standardwebhooks.WebhookVerificationError as error:
            log.warning("refused a delivery: %s", error)
            return 400
        webhook_id = {k.lower(): v for k, v in headers.items()}["webhook-id"]
        if not self.first_time(webhook_id):
            return 200
        try:
            self.process(event)
        except Exception:
            log.exception("could not process %s; OpenMeter will deliver it again", webhook_id)
            self.forget(webhook_id)
            return 500
        return 200

    def verify(self, body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
        return self.webhook.verify(body, dict(headers))

    def first_time(self, webhook_id: str) -> bool:
        """Claim a webhook id; False when it was claimed before (a duplicate delivery).
        A real system keeps these in its database, in the transaction that does the work."""
        with self.lock:
            if webhook_id in self.seen:
                return False
            self.seen.add(webhook_id)
            return True

    def forget(self, webhook_id: str) -> None:
        """Let a redelivery of a failed event be processed."""
        with self.lock:
            self.seen.discard(webhook_id)

    # --- acting ------------------------------------------------------------------------------------
    def process(self, event: dict[str, Any]) -> None:
        if event["type"] != "invoice.updated":
            return  # invoice.created: nothing to do until a hook asks
        reported = event["data"]["statusDetails"]["extendedStatus"]
        invoice = self.current(event["data"]["id"])
        state = invoice["statusDetails"]["extendedStatus"]
        if state != reported:
            return  # a late event, or a state passed through: the event of the current state follows
        try:
            if state == "draft.syncing":
                self.sync_draft(invoice)
            elif state == "issuing.syncing":
                self.sync_issuing(invoice)
            elif state == "payment_processing.pending":
                self.report_payment(invoice)
        except Refused as refusal:
            log.warning("OpenMeter refused a callback for %s: %s", invoice["id"], refusal)

    def current(self, invoice_id: str) -> Mapping[str, Any]:
        invoice: Mapping[str, Any] = {}

        def read() -> None:
            nonlocal invoice
            invoice = self.client.invoice.get_invoice(invoice_id)

        self.call(read)
        return invoice

    def sync_draft(self, invoice: Mapping[str, Any]) -> None:
        # Your system: create the invoice in your ERP; use its number and ids here.
        number = f"ERP-{next(self.numbers)}"
        body = {
            "invoicing": {
                "invoiceNumber": number,
                "externalId": f"erp_{invoice['id'].lower()}",
                "lineExternalIds": self.line_external_ids(invoice),
            }
        }
        self.call(lambda: self.client.app_custom_invoicing.draft_syncronized(invoice["id"], body))

    def line_external_ids(self, invoice: Mapping[str, Any]) -> list[dict[str, str]]:
        """One external id for every line and every detailed line (``children``)."""
        ids = []
        for line in invoice.get("lines") or []:
            for item in [line, *(line.get("children") or [])]:
                ids.append({"lineId": item["id"], "externalId": f"erp_line_{item['id'].lower()}"})
        return ids

    def sync_issuing(self, invoice: Mapping[str, Any]) -> None:
        # Your system: finalize and send the invoice to the customer.
        body = {
            "invoicing": {"sentToCustomerAt": datetime.now(UTC).isoformat(timespec="seconds")},
            "payment": {"externalId": f"pay_{invoice['id'].lower()}"},
        }
        self.call(lambda: self.client.app_custom_invoicing.finalized(invoice["id"], body))

    def report_payment(self, invoice: Mapping[str, Any]) -> None:
        # Your system: your payment provider tells you; certify asks through line names.
        names = [line.get("name", "") for line in invoice.get("lines") or []]
        wanted = [n[len(OUTCOME_PREFIX) :] for n in names if n.startswith(OUTCOME_PREFIX)]
        trigger = wanted[0] if wanted else "paid"
        self.call(
            lambda: self.client.app_custom_invoicing.payment_status(invoice["id"], {"trigger": trigger})
        )

    def call(self, action: Callable[[], object]) -> None:
        """Run one API call: retry transient failures with backoff; a 4xx raises Refused."""
        for attempt in range(1, self.attempts + 1):
            try:
                action()
                return
            except HttpResponseError as error:
                if error.status_code in DONE:
                    return
                if error.status_code not in TRANSIENT:
                    raise Refused(f"{error.status_code}: {error.message}") from None
                if attempt == self.attempts:
                    raise
            except (ServiceRequestError, ServiceResponseError):
                if attempt == self.attempts:
                    raise
            time.sleep(self.backoff * 2 ** (attempt - 1))


def serve(partner: Partner, host: str, port: int) -> ThreadingHTTPServer:
    """An HTTP server that hands every POST to ``partner.handle`` (one thread per request)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = partner.handle(body, dict(self.headers.items()))
            answer = json.dumps({"status": status}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            log.info(format, *args)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128  # deliveries arrive in bursts; the default backlog of 5 drops some

    return Server((host, port), Handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4000, help="webhook endpoint port (default 4000)")
    parser.add_argument("--secret", required=True, help="the webhook channel's whsec_ secret")
    parser.add_argument("--openmeter-url", default="http://127.0.0.1:8888", help="the API's base URL")
    parser.add_argument("--token", help="API token (OpenMeter Cloud / Konnect)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    server = serve(Partner(args.openmeter_url, args.secret, token=args.token), args.host, args.port)
    print(
        f"reference partner on http://{args.host}:{args.port}/ (any path) → {args.openmeter_url}", flush=True
    )
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
