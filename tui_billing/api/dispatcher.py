"""The webhook dispatcher: an asyncio task that delivers pending deliveries.

It never blocks the loop: HTTP calls are awaited, and the only synchronous work is the
service's short commands. Delivery is at least once: an attempt is logged after its
answer, so one cut short by a stop is sent again after the restart, with the same
webhook id. Deliveries are not ordered (as with Svix).

Each channel has its own queue, its own connection pool and at most ``per_channel``
attempts in flight, each cut off after ``timeout``: an endpoint that hangs holds only its
own slots, never another channel's.

Each loop turn: log the attempts that finished (one commit), turn new events into
deliveries (when the event log grew, ``notify`` was called or the last try failed), start
the attempts that are due, then sleep until woken, until the next retry is due, or for
``poll_interval`` (the poll catches events made by commands that did not call ``notify``).
A turn that fails (the disk refused a write) is tried again at the next one.
"""

import asyncio
import heapq
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import datetime

import aiohttp

from ..domain.notifications import DEFAULT_RETRY_SCHEDULE, Attempt, AttemptResult, Channel, Delivery
from ..service import Service
from ..service.commands import Replay
from ..service.notifications import Webhooks, utcnow
from ..service.signing import signed_headers
from .gate import Gate

log = logging.getLogger("tui_billing.api.webhooks")

EXCERPT_BYTES = 1024
USER_AGENT = "tui-billing-webhooks/1"
PER_CHANNEL = 16
"""Attempts in flight (and connections) per channel by default."""


class Dispatcher:
    """Delivers one workspace's webhooks; ``start_dispatcher`` builds and starts one."""

    def __init__(
        self,
        service: Service,
        *,
        schedule: Sequence[float] = DEFAULT_RETRY_SCHEDULE,
        per_channel: int = PER_CHANNEL,
        timeout: float = 10.0,
        poll_interval: float = 0.5,
        on_change: Callable[[], None] | None = None,
        on_attempt: Callable[[Delivery, Attempt], None] | None = None,
    ) -> None:
        self.service = service
        self.webhooks = Webhooks(service)
        self.schedule = tuple(schedule)
        self.per_channel = per_channel
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.on_change = on_change
        self.on_attempt = on_attempt
        self._wake = asyncio.Event()
        self._refresh = True
        self._seen_seq = -1
        self._known_rows = -1
        self._pending: dict[str, Delivery] = {}
        self._due: dict[str, list[tuple[datetime, int, str]]] = {}
        """Per channel: (due time, event seq, delivery id), soonest first."""
        self._channels: dict[str, Channel] = {}
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._busy: dict[str, int] = {}
        """Attempts in flight per channel."""
        self._results: list[AttemptResult] = []
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.gate = Gate()
        """Turns wait here while the dashboard runs a long command alone (``Serving.hold``)."""

    # --- control -------------------------------------------------------------------------------
    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="tui-billing webhook dispatcher")

    def notify(self) -> None:
        """Something changed (an event, a channel, a rule, a resend): look again now."""
        self._refresh = True
        self._wake.set()

    def replay(self, ref: str) -> list[Delivery]:
        """Resend a notification event (or every one of an invoice event), same webhook id."""
        created: list[Delivery] = self.service.execute(Replay(ref))
        self.notify()
        return created

    @property
    def busy(self) -> bool:
        """Whether any delivery is pending or in flight."""
        return bool(self._pending or self._inflight or self._results)

    async def stop(self) -> None:
        """Stop sending. Attempts cut short stay pending and are sent again next start."""
        # The flag ends the loop even when Python 3.11's wait_for swallows the cancellation
        # (an attempt cancelled below sets the wake event at the same moment).
        self._stopping = True
        tasks = [t for t in (self._task, *self._inflight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
        try:
            self._flush()
        except Exception:
            log.exception("could not log the last webhook attempts; they will be sent again")
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()

    # --- the loop ------------------------------------------------------------------------------
    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                async with self.gate.passage():
                    wait = self._turn()
            except Exception:  # the store refused a write: the next turn tries again
                log.exception("webhook dispatcher turn failed")
                wait = self.poll_interval
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=min(wait, self.poll_interval))

    def _turn(self) -> float:
        changed = self._flush()
        event_seq = self.service.workspace().event_seq
        if self._refresh or event_seq != self._seen_seq:
            self._channels = {c.id: c for c in self.webhooks.channels(include_deleted=True)}
            created = self.webhooks.enqueue_new_events()
            # Only now: had the enqueue failed, the next turn would try it again.
            self._refresh = False
            self._seen_seq = event_seq
            self._track(created)
            changed = changed or bool(created)
        if changed and self.on_change is not None:
            _safely(self.on_change)
        return self._launch_due()

    def _track(self, created: list[Delivery]) -> None:
        """Follow new deliveries; reread every pending one when others appeared (a resend)."""
        rows = self.webhooks.delivery_count()
        if rows - len(created) != self._known_rows:
            self._pending = {d.id: d for d in self.webhooks.pending()}
            self._due = {}
            for delivery in self._pending.values():
                self._due.setdefault(delivery.channel_id, []).append(
                    (delivery.next_attempt_at or utcnow(), delivery.event_seq, delivery.id)
                )
            for queue in self._due.values():
                heapq.heapify(queue)
        else:
            for delivery in created:
                self._schedule(delivery)
        self._known_rows = rows

    def _schedule(self, delivery: Delivery) -> None:
        assert delivery.next_attempt_at is not None
        self._pending[delivery.id] = delivery
        heapq.heappush(
            self._due.setdefault(delivery.channel_id, []),
            (delivery.next_attempt_at, delivery.event_seq, delivery.id),
        )

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
        """Start due attempts while their channel has room; seconds until the next is due."""
        now = utcnow()
        wait = self.poll_interval
        for channel_id, queue in list(self._due.items()):
            while queue and self._busy.get(channel_id, 0) < self.per_channel:
                when, _, delivery_id = queue[0]
                delivery = self._pending.get(delivery_id)
                if delivery is None or delivery.next_attempt_at != when or delivery_id in self._inflight:
                    heapq.heappop(queue)  # stale: delivered, rescheduled, cancelled or running
                    continue
                if when > now:
                    wait = min(wait, (when - now).total_seconds())
                    break
                heapq.heappop(queue)
                channel = self._channels.get(channel_id)
                if channel is None or not channel.active:  # the store cancelled it meanwhile
                    del self._pending[delivery_id]
                    continue
                self._busy[channel_id] = self._busy.get(channel_id, 0) + 1
                self._inflight[delivery_id] = asyncio.create_task(self._attempt(delivery, channel))
            if not queue:
                del self._due[channel_id]
        return wait

    def _session(self, channel: Channel) -> aiohttp.ClientSession:
        """The channel's own connection pool."""
        session = self._sessions.get(channel.id)
        if session is None:
            session = self._sessions[channel.id] = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                trust_env=False,
                connector=aiohttp.TCPConnector(limit=self.per_channel),
                headers={"User-Agent": USER_AGENT},
            )
        return session

    async def _attempt(self, delivery: Delivery, channel: Channel) -> None:
        at = utcnow()
        started = time.perf_counter()
        try:
            body = self.webhooks.body(delivery)
            headers = {
                **channel.custom_headers,
                **signed_headers(channel.signing_secret, delivery.notification_id, int(at.timestamp()), body),
            }
            async with self._session(channel).post(
                channel.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                excerpt = (await response.content.read(EXCERPT_BYTES)).decode("utf-8", "replace")
                result = AttemptResult(delivery.id, at, _ms(started), response.status, excerpt)
        except TimeoutError:
            result = AttemptResult(delivery.id, at, _ms(started), None, f"timed out after {self.timeout:g} s")
        except aiohttp.ClientConnectorError as error:
            reason = error.os_error.strerror or str(error.os_error)
            result = AttemptResult(
                delivery.id, at, _ms(started), None, f"cannot connect to {error.host}:{error.port}: {reason}"
            )
        except aiohttp.ClientError as error:
            result = AttemptResult(delivery.id, at, _ms(started), None, f"no answer: {error!r}")
        except Exception as error:  # the event could not be read or signed: log it as the answer
            log.exception("cannot send delivery %s", delivery.id)
            result = AttemptResult(delivery.id, at, _ms(started), None, f"not sent: {error}")
        finally:
            self._inflight.pop(delivery.id, None)
            self._busy[channel.id] -= 1
            self._wake.set()
        self._results.append(result)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _safely(callback: Callable[..., None], *args: object) -> None:
    try:
        callback(*args)
    except Exception:
        log.exception("a webhook dispatcher callback failed")


async def start_dispatcher(
    service: Service,
    *,
    schedule: Sequence[float] = DEFAULT_RETRY_SCHEDULE,
    on_change: Callable[[], None] | None = None,
    on_attempt: Callable[[Delivery, Attempt], None] | None = None,
    per_channel: int = PER_CHANNEL,
    timeout: float = 10.0,
    poll_interval: float = 0.5,
) -> Dispatcher:
    """Start delivering the workspace's webhooks on the running loop (pending ones first).

    ``on_change`` is called on the loop's thread whenever deliveries were created or
    attempts logged; ``on_attempt`` with each logged attempt. ``per_channel`` bounds the
    attempts in flight to one channel; ``timeout`` is per attempt."""
    dispatcher = Dispatcher(
        service,
        schedule=schedule,
        on_change=on_change,
        on_attempt=on_attempt,
        per_channel=per_channel,
        timeout=timeout,
        poll_interval=poll_interval,
    )
    await dispatcher.start()
    return dispatcher
