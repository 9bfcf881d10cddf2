"""The certify run: the simulator drives a partner's integration and grades it.

A run opens a fresh temporary workspace, provisions a webhook channel (and its invoice
rules) to the partner's URL, serves the API on the given port with the certify call log
and its faults installed, starts the webhook dispatcher, and runs every selected check of
the suites (``suites.py``) on that one workspace, in order. Each check ends passed or
failed with its evidence; checks of suites not selected are reported skipped.

Timing: every wait is bounded by the run's options, never a fixed sleep. A check that
expects a call waits at most ``timeout`` seconds for it; a check that expects *no* call
looks ``grace`` seconds after the partner answered (a partner that acts before answering
is graded at once); deliveries are cut off after ``delivery_timeout``.
"""

import asyncio
import base64
import contextlib
import json
import logging
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import aiohttp
from ulid import ULID

from ..api.dispatcher import Dispatcher, start_dispatcher
from ..api.server import ApiServer
from ..domain.errors import BillingError, InvalidValue
from ..domain.notifications import Attempt, Delivery
from ..domain.shapes import webhook_envelope
from ..domain.timefmt import rfc3339
from ..service import Service, scenario
from ..service.commands import COMMANDS, AddChannel, UpdateRule
from ..service.notifications import Webhooks, new_secret
from ..service.signing import signed_headers
from .faults import Call, CallLog, Fault
from .suites import CheckSpec, Suite, load_all, select

log = logging.getLogger("tui_billing.certify")

CLOCK = datetime(2026, 1, 1, 9, tzinfo=UTC)
STALE_SECONDS = 6 * 60
"""How old a stale delivery's timestamp is: Standard Webhooks tolerates five minutes."""
Status = Literal["passed", "failed", "skipped"]


@dataclass
class Options:
    partner_url: str
    secret: str | None = None
    host: str = "127.0.0.1"
    port: int = 8888
    suites: list[str] = field(default_factory=list)
    timeout: float = 10.0
    """Seconds the partner has for each expected call."""
    grace: float = 1.0
    """Seconds to watch for an unwanted call after the partner answered."""
    delivery_timeout: float = 10.0
    """Seconds a webhook delivery may take before it counts as failed (the dispatcher's)."""


@dataclass
class Result:
    suite: str
    check: str
    title: str
    production: str
    why: str
    status: Status
    seconds: float = 0.0
    message: str = ""
    evidence: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.suite}.{self.check}"


class CheckFailed(Exception):
    """A check's grade: the message says what the partner did wrong."""


@dataclass
class Answer:
    """The partner's answer to a delivery certify sent itself."""

    webhook_id: str
    status: int | None
    milliseconds: float
    excerpt: str

    def evidence(self, what: str) -> str:
        answer = self.status if self.status is not None else self.excerpt
        return f"{what} webhook-id {self.webhook_id} → {answer} in {self.milliseconds:.0f} ms"


@dataclass
class Context:
    """One check's state while it runs."""

    spec: CheckSpec
    saved: dict[str, scenario.Saved] = field(default_factory=dict)
    since: int = 0
    """Index of the first call of the call log made during the check."""
    event_seq: int = 0
    """The event log's sequence number when the check started."""
    evidence: list[str] = field(default_factory=list)


ReadyCallback = Callable[[str, str, bool], None]
ResultCallback = Callable[[Result], None]


class Run:
    """One certification run; ``execute`` runs it and returns every check's result."""

    def __init__(
        self,
        options: Options,
        *,
        on_ready: ReadyCallback | None = None,
        on_result: ResultCallback | None = None,
        suites: list[Suite] | None = None,
    ) -> None:
        self.options = options
        self.on_ready = on_ready
        self.on_result = on_result
        self.suites = suites if suites is not None else load_all()
        self.selected = select(self.suites, options.suites)
        self.calls = CallLog()
        self.attempts: list[tuple[Delivery, Attempt]] = []
        self.results: list[Result] = []
        self.secret = ""
        self.seed = secrets.randbelow(2**31)
        """A new seed per run: ids (and so webhook ids) never repeat those of an earlier run,
        which a partner that remembers webhook ids would take for duplicates."""
        self.url = ""
        self._service: Service | None = None
        self._dispatcher: Dispatcher | None = None
        self._http: aiohttp.ClientSession | None = None

    @property
    def service(self) -> Service:
        assert self._service is not None
        return self._service

    @property
    def dispatcher(self) -> Dispatcher:
        assert self._dispatcher is not None
        return self._dispatcher

    @property
    def http(self) -> aiohttp.ClientSession:
        assert self._http is not None
        return self._http

    # --- the run --------------------------------------------------------------------------------
    async def execute(self) -> list[Result]:
        with tempfile.TemporaryDirectory(prefix="tui-billing-certify-") as folder:
            self._service = Service.create(Path(folder) / "certify.db", seed=self.seed, now=CLOCK)
            try:
                await self._serve_and_check()
            finally:
                self.service.close()
        return self.results

    async def _serve_and_check(self) -> None:
        channel, _ = self.service.execute(AddChannel(self.options.partner_url, secret=self.options.secret))
        self.secret = channel.signing_secret
        self._dispatcher = await start_dispatcher(
            self.service,
            timeout=self.options.delivery_timeout,
            on_attempt=self._attempted,
            poll_interval=0.1,
        )
        server = ApiServer(self.service, on_change=self.dispatcher.notify)
        server.app.middlewares.insert(0, self.calls.middleware)
        try:
            try:
                await server.start(self.options.host, self.options.port)
            except OSError as error:
                raise InvalidValue(
                    f"cannot listen on {self.options.host}:{self.options.port}: {error.strerror or error}"
                ) from None
            self.url = server.url
            if self.on_ready is not None:
                self.on_ready(self.url, self.secret, self.options.secret is None)
            timeout = aiohttp.ClientTimeout(total=self.options.delivery_timeout)
            async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as http:
                self._http = http
                for suite in self.suites:
                    for spec in suite.checks:
                        if suite.name in self.selected:
                            result = await self._check(suite, spec)
                        else:
                            reason = "opt-in: add --suite " if suite.opt_in else "not selected: --suite "
                            result = self._result(suite, spec, "skipped", 0.0, reason + suite.name)
                        self.results.append(result)
                        if self.on_result is not None:
                            self.on_result(result)
        finally:
            self.calls.disarm()
            await server.stop()
            await self.dispatcher.stop()

    def _attempted(self, delivery: Delivery, attempt: Attempt) -> None:
        self.attempts.append((delivery, attempt))
        self.calls.changed.set()

    @staticmethod
    def _result(suite: Suite, spec: CheckSpec, status: Status, seconds: float, message: str = "") -> Result:
        return Result(suite.name, spec.id, spec.title, spec.production, spec.why, status, seconds, message)

    async def _check(self, suite: Suite, spec: CheckSpec) -> Result:
        started = time.monotonic()
        ctx = Context(spec, since=len(self.calls.calls), event_seq=self.service.workspace().event_seq)
        if spec.webhooks == "forged":
            self._pause_rules(True)
        status: Status = "passed"
        message = ""
        try:
            for step in spec.steps:
                await self._step(ctx, dict(step))
        except CheckFailed as failure:
            status, message = "failed", str(failure)
        except BillingError as error:  # a suite step the simulator refused: a suite bug, said plainly
            status, message = "failed", f"certify could not run the step: {error}"
        except Exception as error:  # one broken check must not hide the others' results
            log.exception("certify check %s.%s failed unexpectedly", suite.name, spec.id)
            status, message = "failed", f"certify itself failed on this check: {error!r}"
        finally:
            self.calls.disarm()
            if spec.webhooks == "forged":
                self._pause_rules(False)
        result = self._result(suite, spec, status, time.monotonic() - started, message)
        result.evidence = ctx.evidence
        return result

    def _pause_rules(self, paused: bool) -> None:
        """Pause the channel's rules (a forged check delivers only what it sends) or resume
        them; a resumed rule starts after the events made meanwhile."""
        for rule in Webhooks(self.service).rules():
            self.service.execute(
                UpdateRule(
                    rule.id,
                    event_type=rule.type,
                    rule_name=rule.name,
                    channels=rule.channels,
                    disabled=paused,
                )
            )
        self.dispatcher.notify()

    async def _step(self, ctx: Context, step: dict[str, Any]) -> None:
        if "do" in step:
            self._do(ctx, step)
        elif "send" in step:
            await self._send(ctx, step.pop("send"), **self._resolved(ctx, step))
        elif "fault" in step:
            self._fault(ctx, step.pop("fault"), **self._resolved(ctx, step))
        elif "expect" in step:
            name = step.pop("expect")
            if name not in EXPECTATIONS:
                raise CheckFailed(f"the suite names an unknown expectation {name!r}")
            await EXPECTATIONS[name](self, ctx, **self._resolved(ctx, step))
        else:
            raise CheckFailed(f"a step needs do, send, fault or expect: {step}")

    def _do(self, ctx: Context, step: dict[str, Any]) -> None:
        """One service command of the scenario registry (``as`` and ``$name`` work)."""
        if step["do"] not in COMMANDS:
            raise CheckFailed(f"unknown command {step['do']!r}; known: {', '.join(COMMANDS)}")
        try:
            scenario.run_step(
                self.service, scenario.Step.model_validate(step), ctx.saved, f"step of {ctx.spec.id}"
            )
        except InvalidValue as error:
            raise CheckFailed(f"certify could not run the {error}") from None
        self.dispatcher.notify()

    @staticmethod
    def _resolved(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
        def ref(value: Any) -> Any:
            if isinstance(value, list):
                return [ref(v) for v in value]
            if isinstance(value, str) and value.startswith("$"):
                if value[1:] not in ctx.saved:
                    raise CheckFailed(f"{value} names nothing saved with 'as'")
                return ctx.saved[value[1:]].id
            return value

        return {key: ref(value) for key, value in args.items()}

    # --- waiting ----------------------------------------------------------------------------------
    async def until(self, condition: Callable[[], bool], seconds: float) -> bool:
        """Whether ``condition`` held within ``seconds`` (checked at each call or attempt)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while not condition():
            left = end - loop.time()
            if left <= 0:
                return False
            self.calls.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.calls.changed.wait(), min(left, 0.05))
        return True

    async def quiet(self) -> None:
        """Give a partner that acts after answering ``grace`` seconds to make its call."""
        if self.options.grace > 0:
            await asyncio.sleep(self.options.grace)

    # --- faults and forged deliveries ------------------------------------------------------------
    def _fault(
        self,
        ctx: Context,
        kind: str,
        *,
        callback: str,
        invoice: str,
        run: list[dict[str, Any]] = (),  # type: ignore[assignment]
    ) -> None:
        if kind not in ("unavailable", "drop", "before"):
            raise CheckFailed(f"unknown fault {kind!r}")
        before = None
        if kind == "before":

            def before() -> None:
                for step in run:
                    self._do(ctx, dict(step))

        self.calls.arm(Fault(kind, callback, invoice, before))  # type: ignore[arg-type]

    def _event_body(self, invoice_id: str, event_type: str, state: str | None, webhook_id: str) -> bytes:
        """The envelope of the invoice's newest logged event of that type (and state)."""
        for row in reversed(self.service.event_rows(invoice_id)):
            if row["type"] != event_type:
                continue
            event = self.service.event(row)
            if state is None or event.data.get("statusDetails", {}).get("extendedStatus") == state:
                envelope = webhook_envelope(
                    webhook_id, event_type, rfc3339(event.timestamp) or "", event.data
                )
                return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()
        raise CheckFailed(f"certify found no {event_type} event of invoice {invoice_id} in state {state}")

    def _headers(self, webhook_id: str, body: bytes, fault: str | None) -> dict[str, str]:
        now = int(time.time())
        if fault == "stale_timestamp":
            return signed_headers(self.secret, webhook_id, now - STALE_SECONDS, body)
        if fault == "wrong_secret":
            return signed_headers(new_secret(), webhook_id, now, body)
        headers = signed_headers(self.secret, webhook_id, now, body)
        if fault == "bad_signature":
            forged = "v1," + base64.b64encode(secrets.token_bytes(32)).decode()
            headers["svix-signature"] = headers["webhook-signature"] = forged
        elif fault is not None:
            raise CheckFailed(f"unknown delivery fault {fault!r}")
        return headers

    async def post(self, webhook_id: str, body: bytes, fault: str | None = None) -> Answer:
        """One delivery to the partner, signed (or forged) now."""
        started = time.monotonic()
        try:
            async with self.http.post(
                self.options.partner_url,
                data=body,
                headers=self._headers(webhook_id, body, fault),
                allow_redirects=False,
            ) as response:
                excerpt = (await response.content.read(200)).decode("utf-8", "replace")
                status: int | None = response.status
        except TimeoutError:
            status, excerpt = None, f"no answer within {self.options.delivery_timeout:g} s"
        except aiohttp.ClientError as error:
            status, excerpt = None, f"no answer: {error}"
        finally:
            self.calls.changed.set()
        return Answer(webhook_id, status, (time.monotonic() - started) * 1000, excerpt)

    async def _send(
        self,
        ctx: Context,
        event_type: str,
        *,
        invoice: str,
        state: str | None = None,
        fault: str | None = None,
        answer: str | None = None,
        duplicate_while: str | None = None,
    ) -> None:
        """Deliver one logged event; ``answer`` ("2xx"/"4xx") grades the partner's answer;
        ``duplicate_while`` sends the same delivery again while the partner's first callback
        of that kind is in flight (held), as Svix does after a timeout."""
        webhook_id = str(ULID())
        body = self._event_body(invoice, event_type, state, webhook_id)
        what = f"sent {event_type} ({state or 'newest'}){' with ' + fault if fault else ''}"
        if duplicate_while is None:
            reply = await self.post(webhook_id, body, fault)
            ctx.evidence.append(reply.evidence(what))
        else:
            held = self.calls.arm(Fault("hold", duplicate_while, invoice))
            first = asyncio.create_task(self.post(webhook_id, body))
            await self.until(lambda: held.arrived.is_set() or first.done(), self.options.timeout)
            if not held.arrived.is_set():
                held.release.set()
                reply = await first
                ctx.evidence.append(reply.evidence(what))
                raise CheckFailed(f"the partner made no {duplicate_while} call for the first delivery")
            again = await self.post(webhook_id, body)
            held.release.set()
            reply = await first
            ctx.evidence.append(reply.evidence(what))
            ctx.evidence.append(
                again.evidence(f"sent the same delivery again while {duplicate_while} was held:")
            )
        if answer is not None and (reply.status is None or f"{reply.status // 100}xx" != answer):
            raise CheckFailed(
                f"the partner answered {reply.status or reply.excerpt} to a delivery {what[5:]}; "
                f"expected {answer}"
            )

    # --- helpers for the expectations -------------------------------------------------------------
    def successful(self, ctx: Context, invoice: str, kind: str) -> list[Call]:
        return [c for c in self.calls.of(invoice, kind, ctx.since) if c.ok]

    def number(self, invoice_id: str) -> str:
        return self.service.invoice(invoice_id).number


Expectation = Callable[..., Awaitable[None]]


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


async def expect_callback(
    run: Run, ctx: Context, *, callback: str, invoices: str | list[str], trigger: str | None = None
) -> None:
    """Each invoice gets a successful ``callback`` within the timeout (with ``trigger`` for
    payment status)."""
    wanted = _as_list(invoices)
    started = time.monotonic()

    def done(invoice: str) -> bool:
        return any(
            trigger is None or (c.body or {}).get("trigger") == trigger
            for c in run.successful(ctx, invoice, callback)
        )

    met = await run.until(lambda: all(done(i) for i in wanted), run.options.timeout)
    for invoice in wanted:
        calls = run.calls.of(invoice, callback, ctx.since)
        ctx.evidence += [f"{run.number(invoice)}: {c.evidence()}" for c in calls]
    if not met:
        missing = [run.number(i) for i in wanted if not done(i)]
        what = f"{callback}" + (f" with trigger {trigger}" if trigger else "")
        raise CheckFailed(f"no successful {what} for {', '.join(missing)} within {run.options.timeout:g} s")
    ctx.evidence.append(f"all within {time.monotonic() - started:.2f} s")


async def expect_retried(run: Run, ctx: Context, *, callback: str, invoice: str) -> None:
    """After the fault played on the partner's call, a later call of the same kind succeeds."""

    def faulted() -> list[Call]:
        return [c for c in run.calls.of(invoice, callback, ctx.since) if c.fault]

    def retried() -> bool:
        first = faulted()
        return bool(first) and any(
            c.ok and c.number > first[0].number for c in run.successful(ctx, invoice, callback)
        )

    met = await run.until(retried, run.options.timeout)
    ctx.evidence += [
        f"{run.number(invoice)}: {c.evidence()}" for c in run.calls.of(invoice, callback, ctx.since)
    ]
    if not faulted():
        raise CheckFailed(f"the partner never called {callback} for {run.number(invoice)}")
    if not met:
        raise CheckFailed(
            f"no successful retry of {callback} within {run.options.timeout:g} s after the "
            f"injected {faulted()[0].fault}"
        )


async def expect_invoicing_ids(run: Run, ctx: Context, *, invoices: str | list[str]) -> None:
    """The successful draft synchronized call carried an invoice number and an external id."""
    problems = []
    for invoice in _as_list(invoices):
        calls = run.successful(ctx, invoice, "draft_synchronized")
        invoicing = ((calls[-1].body or {}).get("invoicing") or {}) if calls else {}
        lacking = [key for key in ("invoiceNumber", "externalId") if not invoicing.get(key)]
        if lacking:
            problems.append(f"{run.number(invoice)} without {' and '.join(lacking)}")
    if problems:
        raise CheckFailed("draft synchronized " + "; ".join(problems))


async def expect_line_external_ids(run: Run, ctx: Context, *, invoices: str | list[str]) -> None:
    """Every line and every detailed line of the invoice has an external id."""
    problems = []
    for invoice_id in _as_list(invoices):
        invoice = run.service.invoice(invoice_id)
        missing = [line.id for line in invoice.lines if not line.external_id]
        missing += [child.id for line in invoice.lines for child in line.children if not child.external_id]
        total = len(invoice.lines) + sum(len(line.children) for line in invoice.lines)
        ctx.evidence.append(f"{invoice.number}: {total - len(missing)} of {total} lines with an external id")
        if missing:
            problems.append(f"{invoice.number} lines without an external id: {', '.join(missing)}")
    if problems:
        raise CheckFailed("; ".join(problems))


def _deliveries(run: Run, ctx: Context, invoice: str) -> list[Delivery]:
    return [
        d
        for d in Webhooks(run.service).deliveries()
        if d.invoice_id == invoice and d.event_seq > ctx.event_seq
    ]


async def expect_delivered(run: Run, ctx: Context, *, invoice: str) -> None:
    """Every event of the invoice made during the check has been delivered once at least
    (answered, refused or timed out), and the partner had ``grace`` to act after."""

    def answered() -> bool:
        seq = run.service.workspace().event_seq
        caught_up = all(r.cursor == seq for r in Webhooks(run.service).rules() if r.active)
        found = _deliveries(run, ctx, invoice)
        return caught_up and bool(found) and all(d.attempts for d in found)

    if not await run.until(answered, run.options.timeout + run.options.delivery_timeout):
        raise CheckFailed(f"the events of {run.number(invoice)} were not all delivered in time")
    await run.quiet()
    for delivery in _deliveries(run, ctx, invoice):
        first = delivery.attempts[0]
        answer = first.status_code if first.status_code is not None else first.response
        ctx.evidence.append(
            f"{delivery.event_type} webhook-id {delivery.notification_id} → {answer} "
            f"in {first.latency_ms:.0f} ms"
        )


async def expect_answered_in_time(run: Run, ctx: Context, *, invoice: str) -> None:
    """The first attempt of every delivery of the invoice got a 2xx within the delivery timeout."""
    slow = []
    for delivery in _deliveries(run, ctx, invoice):
        first = delivery.attempts[0]
        late = first.latency_ms > run.options.delivery_timeout * 1000
        if first.status_code is None or not 200 <= first.status_code < 300 or late:
            answer = first.status_code if first.status_code is not None else first.response
            slow.append(
                f"{delivery.event_type} {delivery.notification_id}: {answer} after {first.latency_ms:.0f} ms"
            )
    if slow:
        raise CheckFailed(
            f"deliveries not answered 2xx within {run.options.delivery_timeout:g} s (each is retried, "
            f"so your code sees it again): {'; '.join(slow)}"
        )


async def expect_calls(
    run: Run, ctx: Context, *, invoice: str, callbacks: str | list[str], exactly: int = 0
) -> None:
    """After ``grace``, exactly ``exactly`` calls of these kinds for the invoice in this check."""
    await run.quiet()
    kinds = _as_list(callbacks)
    made = [c for c in run.calls.of(invoice, since=ctx.since) if c.kind in kinds]
    ctx.evidence += [f"{run.number(invoice)}: {c.evidence()}" for c in made]
    if len(made) != exactly:
        raise CheckFailed(
            f"{len(made)} {' or '.join(kinds)} call(s) for {run.number(invoice)}, expected {exactly}"
            + (f": {made[exactly].evidence()}" if len(made) > exactly else "")
        )


async def expect_refused(run: Run, ctx: Context, *, callback: str, invoice: str, status: int = 400) -> None:
    """The partner's call of ``callback`` was answered with ``status`` (a problem document)."""
    met = await run.until(
        lambda: any(c.status == status for c in run.calls.of(invoice, callback, ctx.since)),
        run.options.timeout,
    )
    made = run.calls.of(invoice, callback, ctx.since)
    ctx.evidence += [f"{run.number(invoice)}: {c.evidence()}" for c in made]
    if not met:
        raise CheckFailed(
            f"no {callback} call for {run.number(invoice)} answered {status} within {run.options.timeout:g} s"
        )


async def expect_state(run: Run, ctx: Context, *, invoice: str, states: str | list[str]) -> None:
    """The invoice rests in one of ``states``."""
    now = run.service.invoice(invoice).status.value
    ctx.evidence.append(f"{run.number(invoice)} is {now}")
    if now not in _as_list(states):
        raise CheckFailed(f"{run.number(invoice)} is {now}, expected {' or '.join(_as_list(states))}")


EXPECTATIONS: dict[str, Expectation] = {
    "callback": expect_callback,
    "retried": expect_retried,
    "invoicing_ids": expect_invoicing_ids,
    "line_external_ids": expect_line_external_ids,
    "delivered": expect_delivered,
    "answered_in_time": expect_answered_in_time,
    "calls": expect_calls,
    "refused": expect_refused,
    "state": expect_state,
}
"""The grades a suite step can name with ``expect``."""
