"""API and webhook benchmark over loopback HTTP, with durable persistence.

Run from the project root (not collected by pytest)::

    .venv/bin/python tests/benchmarks/bench_api.py
    .venv/bin/python tests/benchmarks/bench_api.py --invoices 1000 --clients 16

Two figures (issue 4: >= 300 callbacks/s; issue 11: >= 1,000/s with p99 <= 20 ms):

* **Callbacks per second.** The API serves a workspace on disk from this process's event
  loop with group commit (concurrent requests' records share one fsync, each answered
  only after it); a client in a separate process
  plays the partner with ``--clients`` connections, each driving whole invoices through
  the three callbacks in order: draft synchronized, issuing synchronized, payment status
  ``paid``. Measured once per callback answer mode (200 + invoice, and 204).
  For reference it also times the same callbacks on the service directly (no HTTP):
  each fsynced on its own (the API, sharing fsyncs, may beat it: its commands still run
  one at a time on the loop's thread), and all in one group commit (one fsync: the CPU a
  callback costs, the API's ceiling on one core).
* **Webhook deliveries per second.** An endpoint points at a receiver in a separate
  process that verifies every signature (``standardwebhooks``, as a partner would) and
  answers 204. The events of ``--invoices`` new invoices are waiting; the dispatcher
  starts and the clock runs until every delivery is logged as succeeded.
"""

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tui_billing.api import start_api, start_dispatcher
from tui_billing.domain.linespec import FlatFee
from tui_billing.service import Service
from tui_billing.service.commands import (
    CreateInvoice,
    DraftSynchronized,
    IssuingSynchronized,
    PaymentStatus,
    SetHooks,
)
from tui_billing.service.notifications import Webhooks, new_secret

START = datetime(2026, 1, 1, 9, tzinfo=UTC)
CALLBACKS = "/api/v1/apps/custom-invoicing/{}/{}"


# --- the partner: a client process --------------------------------------------------------------
def client(url: str, invoice_ids: list[str], clients: int, results: "mp.Queue[Any]") -> None:
    results.put(asyncio.run(_drive(url, invoice_ids, clients)))


async def _drive(url: str, invoice_ids: list[str], clients: int) -> tuple[int, float, list[int], list[float]]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for invoice_id in invoice_ids:
        queue.put_nowait(invoice_id)
    failures: list[int] = []
    latencies: list[float] = []
    steps = (
        ("draft/synchronized", {"invoicing": {}}),
        ("issuing/synchronized", {}),
        ("payment/status", {"trigger": "paid"}),
    )

    async def partner(http: aiohttp.ClientSession) -> None:
        while not queue.empty():
            invoice_id = queue.get_nowait()
            for action, body in steps:
                sent = time.perf_counter()
                async with http.post(CALLBACKS.format(invoice_id, action), json=body) as response:
                    await response.read()
                    if response.status not in (200, 204):
                        failures.append(response.status)
                latencies.append(time.perf_counter() - sent)

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(url, connector=connector) as http:
        started = time.perf_counter()
        await asyncio.gather(*(partner(http) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return len(invoice_ids) * len(steps), elapsed, failures, latencies


# --- the partner's webhook endpoint: a receiver process ------------------------------------------
def receiver(secret: str, ports: "mp.Queue[Any]", stop: Any) -> None:
    import standardwebhooks

    verifier = standardwebhooks.Webhook(secret)

    async def hook(request: web.Request) -> web.Response:
        verifier.verify(await request.read(), dict(request.headers))
        return web.Response(status=204)

    async def serve() -> None:
        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        ports.put(runner.addresses[0][1])
        await asyncio.to_thread(stop.wait)
        await runner.cleanup()

    asyncio.run(serve())


# --- the simulator side ------------------------------------------------------------------------------
def new_invoices(service: Service, count: int) -> list[str]:
    """Flat-fee invoices (no collection wait, no draft period) resting in draft.syncing."""
    customers = [c.key for c in service.customers()]
    return [
        service.execute(
            CreateInvoice(customers[i % len(customers)], [FlatFee("Platform fee", Decimal("49"))])
        ).id
        for i in range(count)
    ]


def bench_service(service: Service, ids: list[str], *, grouped: bool = False) -> float:
    """The same callbacks called on the service directly: the ceiling the API works under.
    ``grouped``: in one group commit with one fsync at the end, so what is left is the
    CPU a callback costs (the API's loop thread spends it on every callback)."""
    started = time.perf_counter()
    with service.group_commit() if grouped else contextlib.nullcontext():
        for invoice_id in ids:
            service.execute(DraftSynchronized(invoice_id))
            service.execute(IssuingSynchronized(invoice_id))
            service.execute(PaymentStatus(invoice_id, "paid"))
    service.flush(service.unflushed())
    elapsed = time.perf_counter() - started
    rate = 3 * len(ids) / elapsed
    how = "one fsync in all (CPU only)" if grouped else "each fsynced"
    print(
        f"service alone, no HTTP, {how}: {3 * len(ids)} callbacks in {elapsed:.2f} s = {rate:,.0f}/s "
        f"({elapsed / len(ids) / 3 * 1000:.2f} ms each)"
    )
    return rate


async def bench_callbacks(service: Service, ids: list[str], clients: int, mode: str) -> float:
    server = await start_api(service, port=0, callback_response=mode)  # type: ignore[arg-type]
    results: mp.Queue[Any] = mp.Queue()
    process = mp.Process(target=client, args=(server.url, ids, clients, results))
    process.start()
    try:
        count, elapsed, failures, latencies = await asyncio.to_thread(results.get, True, 600)
    finally:
        await asyncio.to_thread(process.join, 60)
        await server.stop()
    if failures:
        sys.exit(f"{len(failures)} callbacks failed: {sorted(set(failures))}")
    unpaid = [i for i in ids if service.invoice(i).status.value != "paid"]
    if unpaid:
        sys.exit(f"{len(unpaid)} invoices did not end paid")
    rate = count / elapsed
    print(
        f"callbacks ({mode:>10}): {count} in {elapsed:.2f} s = {rate:,.0f}/s "
        f"({clients} client connections; each answered in median "
        f"{statistics.median(latencies) * 1000:.1f} ms, p99 "
        f"{sorted(latencies)[round(0.99 * (len(latencies) - 1))] * 1000:.1f} ms; goal >= 1,000/s, "
        f"p99 <= 20 ms; 310-381/s before group commit, 398-426/s before the render work)"
    )
    return rate


async def bench_webhooks(service: Service, invoices: int, concurrency: int) -> float:
    stop, ports = mp.Event(), mp.Queue()
    hooks = Webhooks(service)
    secret = new_secret()
    process = mp.Process(target=receiver, args=(secret, ports, stop))
    process.start()
    try:
        port = await asyncio.to_thread(ports.get, True, 60)
        hooks.add(f"http://127.0.0.1:{port}/hook", secret=secret)
        new_invoices(service, invoices)
        done = asyncio.Event()
        dispatcher = await start_dispatcher(service, per_channel=concurrency, on_change=lambda: done.set())
        started = time.perf_counter()
        try:
            rows = service.repository.rows
            while True:  # cheap checks: this loop shares the event loop with the dispatcher
                await done.wait()
                done.clear()
                if (
                    not dispatcher.busy
                    and rows("deliveries")
                    and all(r["status"] != "pending" for r in rows("deliveries"))
                ):
                    break
            elapsed = time.perf_counter() - started
        finally:
            await dispatcher.stop()
    finally:
        stop.set()
        await asyncio.to_thread(process.join, 60)
    deliveries = hooks.deliveries()
    failed = [d for d in deliveries if d.status != "succeeded"]
    if failed:
        sys.exit(f"{len(failed)} deliveries did not succeed")
    rate = len(deliveries) / elapsed
    attempts = sum(len(d.attempts) for d in deliveries)
    print(
        f"webhooks: {len(deliveries)} deliveries ({attempts} attempts, every signature verified) "
        f"in {elapsed:.2f} s = {rate:,.0f}/s (per-channel concurrency {concurrency})"
    )
    return rate


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--invoices", type=int, default=500, help="invoices per measurement (default 500)")
    parser.add_argument("--clients", type=int, default=8, help="partner connections (default 8)")
    parser.add_argument(
        "--concurrency", type=int, default=16, help="attempts in flight per channel (default 16)"
    )
    parser.add_argument("--dir", type=Path, help="where the workspace goes (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        service = Service.create(Path(folder) / "bench.db", seed=7, now=START, customers=20)
        try:
            service.execute(SetHooks(draft=True, issuing=True))
            print(
                f"workspace {service.repository.path}; {args.invoices} invoices per run, each "
                f"command one fsynced journal record"
            )
            bench_service(service, new_invoices(service, args.invoices))
            bench_service(service, new_invoices(service, args.invoices), grouped=True)
            for mode in ("invoice", "no_content"):
                await bench_callbacks(service, new_invoices(service, args.invoices), args.clients, mode)
            await bench_webhooks(service, args.invoices, args.concurrency)
        finally:
            service.close()


if __name__ == "__main__":
    asyncio.run(main())
