"""The webhook dispatcher: an asyncio task that delivers pending deliveries.

It never blocks the loop: HTTP calls are awaited (at most ``concurrency`` at once), and
the only synchronous work is the service's short commands. Delivery is at least once:
an attempt is logged after its answer, so one cut short by a stop is sent again after
the restart, with the same webhook id. Deliveries are not ordered (as with Svix).

Each loop turn: log the attempts that finished (one commit), turn new events into
deliveries (when the event log grew or ``notify`` was called), start the attempts that
are due, then sleep until woken, until the next retry is due, or for ``poll_interval``
(the poll catches events made by commands that did not call ``notify``).
"""

import asyncio
import heapq
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime

import aiohttp

from ..service import Service
from ..service.webhooks import (
    DEFAULT_RETRY_SCHEDULE, Attempt, AttemptResult, Delivery, WebhookEndpoint, Webhooks, utcnow,
)
from .signing import signed_headers

log = logging.getLogger("tui_billing.api.webhooks")

EXCERPT_BYTES = 1024
USER_AGENT = "tui-billing-webhooks/1"


class Dispatcher:
    """Delivers one workspace's webhooks; ``start_dispatcher`` builds and starts one."""

    def __init__(self, service: Service, *, schedule: Sequence[float] = DEFAULT_RETRY_SCHEDULE,
                 concurrency: int = 16, timeout: float = 10.0, poll_interval: float = 0.5,
                 on_change: Callable[[], None] | None = None,
                 on_attempt: Callable[[Delivery, Attempt], None] | None = None) -> None:
        self.service = service
        self.webhooks = Webhooks(service)
        self.schedule = tuple(schedule)
        self.concurrency = concurrency
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.on_change = on_change
        self.on_attempt = on_attempt
        self._wake = asyncio.Event()
        self._refresh = True
        self._seen_seq = -1
        self._known_rows = -1
        self._pending: dict[str, Delivery] = {}
        self._due: list[tuple[datetime, int, str]] = []
        self._endpoints: dict[str, WebhookEndpoint] = {}
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._results: list[AttemptResult] = []
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    # --- control -------------------------------------------------------------------------------
    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout), trust_env=False,
            connector=aiohttp.TCPConnector(limit=self.concurrency),
            headers={"User-Agent": USER_AGENT})
        self._task = asyncio.create_task(self._run(), name="tui-billing webhook dispatcher")

    def notify(self) -> None:
        """Something changed (an event, an endpoint, a replay): look again now."""
        self._refresh = True
        self._wake.set()

    def replay(self, event_id: str) -> list[Delivery]:
        """Send one event again to every endpoint that wants it (same webhook id)."""
        created = self.webhooks.replay(event_id)
        self.notify()
        return created

    @property
    def busy(self) -> bool:
        """Whether any delivery is pending or in flight."""
        return bool(self._pending or self._inflight or self._results)

    async def stop(self) -> None:
        """Stop sending. Attempts cut short stay pending and are sent again next start."""
        tasks = [t for t in (self._task, *self._inflight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
        try:
            self._flush()
        except Exception:
            log.exception("could not log the last webhook attempts; they will be sent again")
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- the loop ------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                wait = self._turn()
            except Exception:  # the store refused a write: keep going, it is retried next turn
                log.exception("webhook dispatcher turn failed")
                wait = self.poll_interval
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=min(wait, self.poll_interval))
            except TimeoutError:
                pass

    def _turn(self) -> float:
        changed = self._flush()
        event_seq = self.service.workspace().event_seq
        if self._refresh or event_seq != self._seen_seq:
            self._refresh = False
            self._seen_seq = event_seq
            self._endpoints = {e.id: e for e in self.webhooks.endpoints()}
            created = self.webhooks.enqueue_new_events()
            self._track(created)
            changed = changed or bool(created)
        if changed and self.on_change is not None:
            _safely(self.on_change)
        return self._launch_due()

    def _track(self, created: list[Delivery]) -> None:
        """Follow new deliveries; reread every pending one when others appeared (a replay)."""
        rows = self.service.repository.count("deliveries")
        if rows - len(created) != self._known_rows:
            self._pending = {d.id: d for d in self.webhooks.pending()}
            self._due = [(d.next_attempt_at or utcnow(), d.event_seq, d.id) for d in self._pending.values()]
            heapq.heapify(self._due)
        else:
            for delivery in created:
                self._schedule(delivery)
        self._known_rows = rows

    def _schedule(self, delivery: Delivery) -> None:
        assert delivery.next_attempt_at is not None
        self._pending[delivery.id] = delivery
        heapq.heappush(self._due, (delivery.next_attempt_at, delivery.event_seq, delivery.id))

    def _flush(self) -> bool:
        """Log the finished attempts in one commit; False when there were none."""
        if not self._results:
            return False
        batch, self._results = self._results, []
        try:
            updated = self.webhooks.record_attempts(batch, self.schedule)
        except Exception:
            self._results = batch + self._results
            raise
        for delivery in updated:
            if delivery.status == "pending":
                self._schedule(delivery)
            else:
                self._pending.pop(delivery.id, None)
            if self.on_attempt is not None:
                _safely(self.on_attempt, delivery, delivery.attempts[-1])
        return True

    def _launch_due(self) -> float:
        """Start due attempts while there is room; seconds until the next one is due."""
        now = utcnow()
        while self._due and len(self._inflight) < self.concurrency:
            when, _, delivery_id = self._due[0]
            delivery = self._pending.get(delivery_id)
            if delivery is None or delivery.next_attempt_at != when or delivery_id in self._inflight:
                heapq.heappop(self._due)  # stale: delivered, rescheduled, cancelled or running
                continue
            if when > now:
                return (when - now).total_seconds()
            heapq.heappop(self._due)
            endpoint = self._endpoints.get(delivery.endpoint_id)
            if endpoint is None:  # removed meanwhile: the store has cancelled the delivery
                del self._pending[delivery_id]
                continue
            self._inflight[delivery_id] = asyncio.create_task(self._attempt(delivery, endpoint))
        return self.poll_interval

    async def _attempt(self, delivery: Delivery, endpoint: WebhookEndpoint) -> None:
        assert self._session is not None
        at = utcnow()
        started = time.perf_counter()
        try:
            body = self.webhooks.body(delivery)
            headers = signed_headers(endpoint.secret, delivery.event_id, int(at.timestamp()), body)
            async with self._session.post(endpoint.url, data=body, headers=headers,
                                          allow_redirects=False) as response:
                excerpt = (await response.content.read(EXCERPT_BYTES)).decode("utf-8", "replace")
                result = AttemptResult(delivery.id, at, _ms(started), response.status, excerpt)
        except TimeoutError:
            result = AttemptResult(delivery.id, at, _ms(started), None, f"timed out after {self.timeout:g} s")
        except aiohttp.ClientConnectorError as error:
            reason = error.os_error.strerror or str(error.os_error)
            result = AttemptResult(delivery.id, at, _ms(started), None,
                                   f"cannot connect to {error.host}:{error.port}: {reason}")
        except aiohttp.ClientError as error:
            result = AttemptResult(delivery.id, at, _ms(started), None, f"no answer: {error!r}")
        except Exception as error:  # the event could not be read or signed: log it as the answer
            log.exception("cannot send delivery %s", delivery.id)
            result = AttemptResult(delivery.id, at, _ms(started), None, f"not sent: {error}")
        finally:
            self._inflight.pop(delivery.id, None)
            self._wake.set()
        self._results.append(result)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _safely(callback: Callable[..., None], *args: object) -> None:
    try:
        callback(*args)
    except Exception:
        log.exception("a webhook dispatcher callback failed")


async def start_dispatcher(service: Service, *, schedule: Sequence[float] = DEFAULT_RETRY_SCHEDULE,
                           on_change: Callable[[], None] | None = None,
                           on_attempt: Callable[[Delivery, Attempt], None] | None = None,
                           concurrency: int = 16, timeout: float = 10.0,
                           poll_interval: float = 0.5) -> Dispatcher:
    """Start delivering the workspace's webhooks on the running loop (pending ones first).

    ``on_change`` is called on the loop's thread whenever deliveries were created or
    attempts logged; ``on_attempt`` with each logged attempt. ``timeout`` is per attempt."""
    dispatcher = Dispatcher(service, schedule=schedule, on_change=on_change, on_attempt=on_attempt,
                            concurrency=concurrency, timeout=timeout, poll_interval=poll_interval)
    await dispatcher.start()
    return dispatcher
