"""Durability: a process hammering commands is SIGKILLed at random moments, some of them
in the middle of a compaction (while it copies the old snapshot's event log, while it adds
new rows to an event log it never parsed, while it copies the records appended meanwhile,
around its rename); the workspace always opens and holds every command the process
acknowledged (printed after the command returned). Every other round the file keeps zeros
after its records however small it is (``PAD_BYTES``), so kills land while records are
written over them and while more are added."""

import asyncio
import json
import random
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import aiohttp
from conftest import FIXED_CLOCK, SEED

from tui_billing.domain.durations import parse_duration
from tui_billing.domain.linespec import FlatFee
from tui_billing.service import Service
from tui_billing.service.commands import CreateInvoice, SetHooks

ROUNDS = 12
COMPACTION_EVERY = 3  # every third round is killed while the journal is being compacted
CHAIN = ("payment_processing.pending", "overdue", "paid")

HAMMER = textwrap.dedent("""
    import json, os, sys, time
    from decimal import Decimal
    from tui_billing.domain.linespec import FlatFee
    from tui_billing.domain.timefmt import rfc3339
    from tui_billing.service import Service
    from tui_billing.service.commands import AdvanceClock, CreateInvoice, PaymentStatus, SetHooks
    from tui_billing.store import journal, repository

    def say(text):  # one write per line: the compaction thread announces beside the acks
        sys.stdout.write(text + "\\n")
        sys.stdout.flush()

    if sys.argv[4] == "pad":  # zeros after the records from the first append on, 4 KiB at a time
        journal.PAD_FROM_BYTES, journal.PAD_BYTES = 0, 4096
    compact_from = int(sys.argv[2])  # from this step on, compact whenever the journal
    if compact_from >= 0:             # outgrows the snapshot (-1: never lower the threshold)
        real_replace = os.replace

        def announced_replace(source, target):
            say("compacting")
            time.sleep(0.05)  # the new file is written and synced; the rename is yet to come
            real_replace(source, target)

        os.replace = announced_replace
    stage = sys.argv[3]  # a compaction step to announce and slow down, commands going on meanwhile
    if stage == "copying":  # the old snapshot line of the event log is being copied
        real_copied_prefix = repository._copied_prefix

        def announced_copied_prefix(source, line):
            say("copying")
            time.sleep(0.05)
            yield from real_copied_prefix(source, line)

        repository._copied_prefix = announced_copied_prefix
    elif stage == "folding":  # the event log, never parsed, is written with its new rows added
        real_appended = repository._appended

        def announced_appended(table, first_id, pause):
            say("folding")
            time.sleep(0.05)
            yield from real_appended(table, first_id, pause)

        repository._appended = announced_appended
    elif stage == "catching-up":  # the records appended meanwhile are being copied, unlocked
        real_catch_up = journal.Journal.catch_up

        def announced_catch_up(self, prepared, since):
            say("catching-up")
            time.sleep(0.05)
            return real_catch_up(self, prepared, since)

        journal.Journal.catch_up = announced_catch_up

    def ack(**fields):
        say(json.dumps(fields))

    service = Service.open(sys.argv[1])
    if stage != "folding":  # the event log parsed: a compaction copies its old line, adds new rows
        service.event_rows()
    keys = [customer.key for customer in service.customers()]
    rows = service.invoice_rows()
    waiting = {status: [row["id"] for row in rows if row["status"] == status]
               for status in ("payment_processing.pending", "overdue")}
    step = 0
    while True:
        if step == compact_from:
            repository.COMPACT_MIN_BYTES = 0
        kind = step % 5
        if kind == 0:
            fee = [FlatFee("Fee", Decimal("10.00"))]
            invoice = service.execute(CreateInvoice(keys[step % len(keys)], fee))
            waiting[invoice.status.value].append(invoice.id)
            ack(op="create", id=invoice.id, status=invoice.status.value)
        elif kind == 1 and waiting["payment_processing.pending"]:
            pending = waiting["payment_processing.pending"].pop(0)
            invoice = service.execute(PaymentStatus(pending, "payment_overdue"))
            waiting["overdue"].append(invoice.id)
            ack(op="payment", id=invoice.id, status=invoice.status.value)
        elif kind == 2 and waiting["overdue"]:
            invoice = service.execute(PaymentStatus(waiting["overdue"].pop(0), "paid"))
            ack(op="payment", id=invoice.id, status=invoice.status.value)
        elif kind == 3:
            service.execute(SetHooks(draft=False, issuing=False))
            ack(op="hooks")
        else:
            report = service.execute(AdvanceClock("1h"))
            ack(op="clock", now=rfc3339(report.end))
        step += 1
""")


def _run_round(
    path: Path, rng: random.Random, compact: bool, stage: str = "compacting", pad: bool = False
) -> tuple[list[dict], bool]:
    """Start the hammer, SIGKILL it at a random moment (in a compaction round: once it
    announces the compaction ``stage``); its acknowledgements, and whether it was hit."""
    compact_from = rng.randint(0, 12) if compact else -1
    child = subprocess.Popen(
        [sys.executable, "-c", HAMMER, str(path), str(compact_from), stage, "pad" if pad else "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stderr is not None
    acks: list[dict] = []
    kill_after = rng.randint(1, 30)
    aimed = False
    announcements = {"compacting\n", "copying\n", "folding\n", "catching-up\n"}
    for line in child.stdout:
        if line in announcements:
            if compact and line == stage + "\n":
                # at "compacting" mostly before the rename, sometimes after; at the
                # copying steps before it or well after (commands acknowledged meanwhile)
                time.sleep(rng.random() * (0.06 if stage == "compacting" else 0.3))
                aimed = True
                break
            continue
        acks.append(json.loads(line))
        if not compact and len(acks) >= kill_after:
            time.sleep(rng.random() * 0.004)
            break
        if len(acks) > 300:
            break  # never compacted: a bug the checks below will report
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    acks += [
        json.loads(line) for line in child.stdout.read().splitlines() if line + "\n" not in announcements
    ]
    stderr = child.stderr.read()
    child.stdout.close()
    child.stderr.close()
    assert child.returncode == -signal.SIGKILL, f"the hammer died on its own:\n{stderr}"
    return acks, aimed


def _reopen(path: Path) -> tuple[dict[str, str], datetime]:
    """Open the workspace (it must open) and check its event log is whole."""
    service = Service.open(path)
    try:
        statuses = {row["id"]: row["status"] for row in service.invoice_rows()}
        events = service.events()  # every event's data is read back and checksummed
        assert [event.seq for event in events] == list(range(1, len(events) + 1))
        assert {event.invoice_id for event in events} == set(statuses)
        return statuses, service.now()
    finally:
        service.close()


def test_sigkill_at_random_moments_loses_no_acknowledged_command(workspace_path: Path) -> None:
    killed_mid_compaction = _hammer_and_kill(workspace_path, random.Random(20260101), ["compacting"])
    assert killed_mid_compaction >= 1, "no kill landed between writing a compacted file and its rename"


def test_sigkill_while_a_compaction_copies_loses_no_acknowledged_command(workspace_path: Path) -> None:
    """Killed at a seeded moment while a compaction copies the old snapshot's event log
    (then encodes only the rows added since) or copies, without holding the journal, the
    records appended meanwhile: commands acknowledged during those steps are all there."""
    _hammer_and_kill(workspace_path, random.Random(20261130), ["copying", "catching-up"])


def test_sigkill_while_a_compaction_adds_rows_to_an_unparsed_event_log_loses_nothing(
    workspace_path: Path,
) -> None:
    """The hammer never reads the event log: a compaction writes its line as read plus the
    rows added since, unparsed (``_appended``). Killed at a seeded moment while it does,
    the workspace holds every acknowledged command and a whole event log."""
    _hammer_and_kill(workspace_path, random.Random(20261201), ["folding"])


def _hammer_and_kill(workspace_path: Path, rng: random.Random, stages: list[str]) -> int:
    """``ROUNDS`` rounds of hammering and killing, every ``COMPACTION_EVERY``-th aimed at
    one of ``stages`` of a compaction in turn, each checked after reopening; how many
    kills landed after a compacted file was written, before its rename."""
    Service.create(workspace_path, seed=SEED, now=FIXED_CLOCK).close()
    statuses: dict[str, str] = {}
    now = FIXED_CLOCK
    acknowledged = 0
    killed_mid_compaction = 0
    for round_number in range(ROUNDS):
        compact = round_number % COMPACTION_EVERY == COMPACTION_EVERY - 1
        stage = stages[round_number // COMPACTION_EVERY % len(stages)]
        temporary = workspace_path.with_name(workspace_path.name + ".tmp")
        stale = temporary.stat().st_mtime_ns if temporary.exists() else None
        acks, aimed = _run_round(workspace_path, rng, compact, stage, pad=round_number % 2 == 1)
        assert acks or compact, "the hammer acknowledged nothing before it was killed"
        assert aimed == compact, "a compaction round saw no compaction"
        acknowledged += len(acks)
        if temporary.exists() and temporary.stat().st_mtime_ns != stale:
            killed_mid_compaction += 1  # killed after writing the new file, before the rename

        expected = dict(statuses)
        for ack in acks:
            if ack["op"] in ("create", "payment"):
                expected[ack["id"]] = ack["status"]
            elif ack["op"] == "clock":
                now = datetime.fromisoformat(ack["now"])
        actual, actual_now = _reopen(workspace_path)

        # Every acknowledged command is there. At most one more command (killed after its
        # commit, before its acknowledgement) may have landed too.
        missing = set(expected) - set(actual)
        assert not missing, f"round {round_number}: acknowledged invoices lost: {missing}"
        beyond = [invoice_id for invoice_id in actual if invoice_id not in expected]
        for invoice_id, status in expected.items():
            if actual[invoice_id] != status:
                assert CHAIN.index(actual[invoice_id]) == CHAIN.index(status) + 1, (
                    f"round {round_number}: {invoice_id} is {actual[invoice_id]}, acknowledged {status}"
                )
                beyond.append(invoice_id)
        assert actual_now in (now, now + timedelta(hours=1)), f"round {round_number}: clock {actual_now}"
        beyond_clock = actual_now != now
        assert len(beyond) + beyond_clock <= 1, f"round {round_number}: unacknowledged changes {beyond}"

        statuses, now = actual, actual_now
    assert acknowledged >= ROUNDS * 5
    return killed_mid_compaction


SERVER = textwrap.dedent("""
    import asyncio, sys
    from tui_billing.api import start_api
    from tui_billing.service import Service
    from tui_billing.service.commands import AdvanceClock, CreateInvoice, PaymentStatus, SetHooks
    from tui_billing.store import journal

    if sys.argv[2] == "pad":  # group commits written over zeros kept after the records
        journal.PAD_FROM_BYTES, journal.PAD_BYTES = 0, 4096

    async def main():
        server = await start_api(Service.open(sys.argv[1]), port=0)
        print(server.url, flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
""")
CLIENTS = 8


async def _callbacks_until_killed(
    url: str, invoice_ids: list[str], child: subprocess.Popen, kill_after: int
) -> list[str]:
    """Eight partners send draft-synchronized callbacks at once; the server is SIGKILLed
    after ``kill_after`` answers. The invoices whose callback was answered 200."""
    queue = list(invoice_ids)
    acknowledged: list[str] = []

    async def partner(http: aiohttp.ClientSession) -> None:
        while queue:
            invoice_id = queue.pop(0)
            try:
                path = f"/api/v1/apps/custom-invoicing/{invoice_id}/draft/synchronized"
                async with http.post(path, json={"invoicing": {}}) as response:
                    await response.read()
                    if response.status in (200, 204):
                        acknowledged.append(invoice_id)
            except aiohttp.ClientError:
                return  # the server is gone
            if len(acknowledged) >= kill_after and child.poll() is None:
                child.send_signal(signal.SIGKILL)

    async with aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=CLIENTS)) as http:
        await asyncio.gather(*(partner(http) for _ in range(CLIENTS)))
    return acknowledged


def test_sigkill_during_group_commits_loses_no_acknowledged_callback(workspace_path: Path) -> None:
    """Concurrent callbacks share fsyncs (group commit); a kill among them loses none that
    was answered, and leaves every invoice wholly before or wholly after its callback."""
    Service.create(workspace_path, seed=SEED, now=FIXED_CLOCK).close()
    rng = random.Random(20261129)
    for round_number in range(3):
        service = Service.open(workspace_path)
        service.execute(SetHooks(draft=True, issuing=True))  # new invoices wait in draft.syncing
        keys = [customer.key for customer in service.customers()]
        ids = [
            service.execute(CreateInvoice(keys[i % len(keys)], [FlatFee("Fee", Decimal("10.00"))])).id
            for i in range(40)
        ]
        before = {invoice_id: len(service.event_rows(invoice_id)) for invoice_id in ids}
        service.close()
        child = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(workspace_path), "pad" if round_number == 1 else "-"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        acknowledged = asyncio.run(_callbacks_until_killed(url, ids, child, rng.randint(1, 30)))
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
        assert acknowledged, "no callback was answered before the kill"

        statuses, _ = _reopen(workspace_path)
        service = Service.open(workspace_path)
        try:
            applied = [i for i in ids if statuses[i] != "draft.syncing"]
            assert set(acknowledged) <= set(applied), "an acknowledged callback was lost"
            after = {len(service.event_rows(i)) - before[i] for i in applied}
            assert len(after) == 1 and 0 not in after, "an applied callback is missing some of its events"
            for invoice_id in set(ids) - set(applied):
                assert len(service.event_rows(invoice_id)) == before[invoice_id], "half-applied"
        finally:
            service.close()


CLOCK_HAMMER = textwrap.dedent("""
    import sys
    from tui_billing.domain.timefmt import rfc3339
    from tui_billing.service import Service
    from tui_billing.service.commands import AdvanceClock

    service = Service.open(sys.argv[1])
    stop_after = int(sys.argv[2])
    advance = 0
    while True:
        steps = service.execute_in_steps(AdvanceClock("1mo"), every=1)
        heard = 0
        try:
            while True:
                next(steps)
                heard += 1
                # an advance stopped part way (``esc`` in the dashboard): its event data is
                # written, its record never
                if advance % 3 == 2 and heard == stop_after:
                    steps.close()
                    print("stopped " + rfc3339(service.now()), flush=True)
                    break
        except StopIteration as done:
            print("clock " + rfc3339(done.value.end), flush=True)
        advance += 1
""")


def test_sigkill_during_clock_advances_that_write_event_data_as_they_go(workspace_path: Path) -> None:
    """A clock advance writes its events' data to the payload file at each progress report
    (after every item here), its one record at the end. Killed at seeded moments (while it
    writes event data, while it commits, after advances stopped part way, whose data
    nothing references): the workspace opens with every event's data whole, the clock
    where the last acknowledged advance left it (or one advance further: killed after its
    commit, before its acknowledgement), and an advance wholly there or wholly not."""
    rng = random.Random(20261129)
    Service.create(workspace_path, seed=SEED, now=FIXED_CLOCK, customers=4).close()
    now = FIXED_CLOCK
    for round_number in range(4):
        child = subprocess.Popen(
            [sys.executable, "-c", CLOCK_HAMMER, str(workspace_path), str(rng.randint(1, 3))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None and child.stderr is not None
        kill_after = rng.randint(3, 8)
        acks: list[str] = []
        for line in child.stdout:
            acks.append(line)
            if len(acks) >= kill_after:
                time.sleep(rng.random() * 0.05)
                break
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        acks += child.stdout.read().splitlines()
        stderr = child.stderr.read()
        child.stdout.close()
        child.stderr.close()
        assert child.returncode == -signal.SIGKILL, f"the clock hammer died on its own:\n{stderr}"
        assert any(ack.startswith("stopped") for ack in acks), "no advance was stopped part way"
        now = datetime.fromisoformat(acks[-1].split()[1])

        service = Service.open(workspace_path)
        try:
            actual_now = service.now()
            assert actual_now in (now, parse_duration("1mo").after(now)), (
                f"round {round_number}: clock {actual_now}"
            )
            statuses = {row["id"]: row["status"] for row in service.invoice_rows()}
            events = service.events()  # every event's data is read back and checksummed
            assert [event.seq for event in events] == list(range(1, len(events) + 1))
            assert {event.invoice_id for event in events} == set(statuses)
            # every period up to the clock is billed, none beyond it: no advance half there
            assert all(s.period_start <= actual_now < s.period_end for s in service.subscriptions())
        finally:
            service.close()
