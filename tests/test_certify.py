"""``tui-billing certify`` against the reference partner and deliberately broken variants.

The reference integration (``examples/reference_partner/partner.py``) must pass every suite;
each broken variant must fail exactly the checks its defect should fail (the proof that
every check can fail). Everything runs on loopback: the partner's webhook server in a
thread, certify's API and dispatcher on its own loop. The partners act before answering a
delivery, so ``--grace 0`` grades them at once; the only waits are bounded by ``--timeout``
(an expected call that never comes) or ``--delivery-timeout`` (an answer that never comes).
"""

import asyncio
import importlib.util
import json
import socket
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from conftest import PROJECT

from tui_billing import workspace
from tui_billing.certify import suites
from tui_billing.certify.engine import EXPECTATIONS, Options, Run
from tui_billing.cli import main as cli_main
from tui_billing.domain.errors import InvalidValue
from tui_billing.service import certify_report, scenario
from tui_billing.service.notifications import new_secret

_spec = importlib.util.spec_from_file_location(
    "reference_partner", PROJECT / "examples" / "reference_partner" / "partner.py"
)
assert _spec is not None and _spec.loader is not None
reference = importlib.util.module_from_spec(_spec)
sys.modules["reference_partner"] = reference
_spec.loader.exec_module(reference)
Partner = reference.Partner

ALL = ["hooks", "webhooks", "resilience", "payments"]
DEFAULT = ["hooks", "webhooks", "resilience"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def partner_running(kind: type, api_port: int, secret: str) -> Iterator[Any]:
    partner = kind(f"http://127.0.0.1:{api_port}", secret, backoff=0.02)
    server = reference.serve(partner, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield partner, f"http://127.0.0.1:{server.server_address[1]}/webhooks"
    finally:
        getattr(partner, "release", threading.Event()).set()
        server.shutdown()
        server.server_close()


def certify(
    kind: type,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    *,
    suites: list[str],
    extra: list[str] = (),  # type: ignore[assignment]
) -> tuple[int, dict[str, Any], str]:
    """Run the CLI against a partner; exit code, the --json document, the scorecard."""
    api_port, secret = _free_port(), new_secret()
    with partner_running(kind, api_port, secret) as (_, url):
        argv = ["certify", "--partner-url", url, "--secret", secret, "--port", str(api_port)]
        argv += ["--grace", "0", "--json", "--junit", str(tmp_path / "junit.xml"), *extra]
        for name in suites:
            argv += ["--suite", name]
        code = cli_main(argv)
    out = capsys.readouterr()
    return code, json.loads(out.out), out.err


def failed(document: dict[str, Any]) -> set[str]:
    return {c["name"] for c in document["checks"] if c["status"] == "failed"}


# --- the broken variants ---------------------------------------------------------------------------
class SkipsSignatures(Partner):
    """Parses the body without verifying it."""

    def verify(self, body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
        return json.loads(body)


class ActsTwice(Partner):
    """No idempotency: every delivery is processed, duplicates too."""

    def first_time(self, webhook_id: str) -> bool:
        return True


class NeverRetries(Partner):
    """Fire and forget: one attempt per call, failures logged and swallowed."""

    def call(self, action: Any) -> None:
        try:
            action()
        except Exception:
            reference.log.info("call failed; not retried")


class OmitsLineIds(Partner):
    def line_external_ids(self, invoice: Mapping[str, Any]) -> list[dict[str, str]]:
        return []


class ActsOnPayload(Partner):
    """Trusts the status in the payload instead of reading the invoice's current state."""

    def current(self, invoice_id: str) -> Mapping[str, Any]:
        return self.payload

    def process(self, event: dict[str, Any]) -> None:
        self.payload = event["data"]
        super().process(event)


class RetriesRefusals(Partner):
    """Treats a 4xx like a transient failure and tries again."""

    def call(self, action: Any) -> None:
        for _ in range(3):
            try:
                action()
                return
            except reference.HttpResponseError as error:
                if error.status_code in reference.DONE:
                    return


class SlowOnCreated(Partner):
    """Does slow work before answering invoice.created (never within the delivery timeout)."""

    release = threading.Event()

    def process(self, event: dict[str, Any]) -> None:
        if event["type"] == "invoice.created":
            self.release.wait(30)
        super().process(event)


class IgnoresIssuing(Partner):
    def sync_issuing(self, invoice: Mapping[str, Any]) -> None:
        return None


class NoNumbers(Partner):
    """Synchronizes drafts without an invoice number or external id."""

    def sync_draft(self, invoice: Mapping[str, Any]) -> None:
        body = {"invoicing": {"lineExternalIds": self.line_external_ids(invoice)}}
        self.call(lambda: self.client.app_custom_invoicing.draft_syncronized(invoice["id"], body))


class NeverPays(Partner):
    def report_payment(self, invoice: Mapping[str, Any]) -> None:
        return None


VARIANTS = [
    (
        SkipsSignatures,
        DEFAULT,
        {"webhooks.bad_signature", "webhooks.stale_timestamp", "webhooks.wrong_secret"},
    ),
    (ActsTwice, DEFAULT, {"webhooks.duplicate_delivery"}),
    (NeverRetries, DEFAULT, {"resilience.retry_after_503", "resilience.retry_after_drop"}),
    (OmitsLineIds, DEFAULT, {"hooks.line_external_ids"}),
    (ActsOnPayload, ["hooks", "webhooks"], {"hooks.hooks_off", "webhooks.out_of_order"}),
    (RetriesRefusals, ["resilience"], {"resilience.no_loop_on_400"}),
    (SlowOnCreated, ["webhooks"], {"webhooks.answers_in_time"}),
    (IgnoresIssuing, ["hooks"], {"hooks.issuing_synchronized"}),
    (NoNumbers, ["hooks"], {"hooks.draft_synchronized"}),
    (NeverPays, ["payments"], {"payments.status_reported", "payments.void_and_uncollectible"}),
]
"""Each broken variant, the suites it runs, and exactly the checks it must fail."""
SHORTER = {SlowOnCreated: ["--delivery-timeout", "1"]}
"""A variant that never answers in time is cut off sooner (the others keep the default 10 s,
so a loaded machine cannot make their answers late)."""


# --- the tests ---------------------------------------------------------------------------------
def test_the_reference_partner_passes_every_suite(capsys, tmp_path) -> None:
    code, document, scorecard = certify(Partner, capsys, tmp_path, suites=ALL)
    assert code == 0, scorecard
    names = [c["name"] for c in document["checks"]]
    assert {c["status"] for c in document["checks"]} == {"passed"}
    assert names == [f"{s.name}.{c.id}" for s in suites.load_all() for c in s.checks]
    assert "15 passed, 0 failed, 0 skipped" in scorecard
    for check in document["checks"]:
        assert check["evidence"] and check["production"] and check["why"]
    junit = ElementTree.parse(tmp_path / "junit.xml").getroot()
    cases = junit.findall("./testsuite/testcase")
    assert len(cases) == len(names) and not junit.findall(".//failure")
    assert {s.get("name") for s in junit.findall("testsuite")} == set(ALL)
    # The run saved its --json document where the dashboard's Certify screen reads it.
    saved = workspace.certify_report_path()
    assert json.loads(saved.read_text(encoding="utf-8")) == document
    assert saved.stat().st_mode & 0o777 == 0o600 and f"report saved to {saved}" in scorecard
    report = certify_report.load(saved)
    assert report is not None and report.partner_url == document["partner_url"] and report.passed


@pytest.mark.parametrize(
    ("variant", "run", "expected"),
    VARIANTS,
    ids=lambda value: value.__name__ if isinstance(value, type) else None,
)
def test_a_broken_variant_fails_exactly_its_checks(variant, run, expected, capsys, tmp_path) -> None:
    code, document, scorecard = certify(
        variant, capsys, tmp_path, suites=run, extra=["--timeout", "3", *SHORTER.get(variant, [])]
    )
    assert code == 1
    assert failed(document) == expected, scorecard
    for name in expected:
        assert f"FAIL  {name}" in scorecard
    statuses = {c["suite"]: c["status"] for c in document["checks"] if c["suite"] not in run}
    assert set(statuses.values()) <= {"skipped"}


def test_every_check_is_failed_by_some_variant() -> None:
    """Together the variants fail every check of every suite: each check can fail."""
    covered = set().union(*(expected for _, _, expected in VARIANTS))
    assert {f"{s.name}.{c.id}" for s in suites.load_all() for c in s.checks} == covered


def test_suite_steps_use_the_scenario_registry_and_known_expectations() -> None:
    for suite in suites.load_all():
        for check in suite.checks:
            for step in check.steps:
                if "do" in step:
                    assert step["do"] in scenario.COMMANDS, (check.id, step)
                elif "expect" in step:
                    assert step["expect"] in EXPECTATIONS, (check.id, step)
                else:
                    assert {"send", "fault"} & set(step), (check.id, step)


def test_unknown_suite_and_bad_options_are_one_line_refusals(capsys) -> None:
    with pytest.raises(InvalidValue, match="unknown suite nope"):
        suites.select(suites.load_all(), ["nope"])
    assert cli_main(["certify", "--partner-url", "http://127.0.0.1:9/x", "--suite", "nope"]) == 1
    assert "unknown suite nope; known: hooks, webhooks, resilience, payments" in capsys.readouterr().err
    assert cli_main(["certify", "--partner-url", "ftp://x", "--port", "0"]) == 1
    assert "webhook URL is http:// or https://" in capsys.readouterr().err
    assert cli_main(["certify", "--partner-url", "http://127.0.0.1:9/x", "--timeout", "-1"]) == 1
    assert "--timeout must be between 0 and 3600" in capsys.readouterr().err


def test_payments_are_opt_in_and_reported_skipped(capsys, tmp_path) -> None:
    code, document, scorecard = certify(Partner, capsys, tmp_path, suites=["resilience"])
    assert code == 0, scorecard
    skipped = {c["name"]: c["message"] for c in document["checks"] if c["status"] == "skipped"}
    assert skipped["payments.status_reported"] == "opt-in: add --suite payments"
    assert skipped["hooks.hooks_off"] == "not selected: --suite hooks"


def test_a_generated_secret_is_printed_first_and_used(capsys) -> None:
    """Without --secret the run makes one, prints it before anything else, and signs with it."""
    api_port = _free_port()
    with partner_running(Partner, api_port, new_secret()) as (partner, url):

        def configure(api: str, secret: str, generated: bool) -> None:
            assert generated and api == f"http://127.0.0.1:{api_port}"
            partner.webhook = reference.standardwebhooks.Webhook(secret)

        options = Options(url, port=api_port, suites=["webhooks"], grace=0)
        results = asyncio.run(Run(options, on_ready=configure).execute())
    assert {r.name: r.status for r in results if r.suite == "webhooks"} == {
        f"webhooks.{c.id}": "passed" for s in suites.load_all() if s.name == "webhooks" for c in s.checks
    }
    argv = ["certify", "--partner-url", "http://127.0.0.1:9/none", "--port", "0", "--suite", "hooks"]
    code = cli_main([*argv, "--timeout", "0.2", "--grace", "0"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1 and lines[0].startswith("secret whsec_") and "configure your integration" in lines[0]
    assert "FAIL  hooks.draft_synchronized" in "\n".join(lines)


def test_one_partner_passes_two_runs_in_a_row() -> None:
    """Each run has new ids, so a partner that remembers webhook ids sees no false duplicates."""
    api_port, secret = _free_port(), new_secret()
    with partner_running(Partner, api_port, secret) as (_, url):
        for _ in range(2):
            run = Run(Options(url, secret, port=api_port, suites=["hooks"], grace=0))
            results = asyncio.run(run.execute())
            assert [r.status for r in results if r.suite == "hooks"] == ["passed"] * 4
