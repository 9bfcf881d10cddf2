"""List benchmarks over loopback HTTP: filtered invoice lists, and paging notification events.

Run from the project root (not collected by pytest)::

    .venv/bin/python tests/benchmarks/bench_list.py                  # 10k invoices
    .venv/bin/python tests/benchmarks/bench_list.py --invoices 2000 --rounds 50
    .venv/bin/python tests/benchmarks/bench_list.py --workspace /tmp/w10k.db --events

Builds a workspace of ``--invoices`` service-created invoices (``bench_store.build``:
customers billed month by month; with ``--workspace`` it is built there once and reused),
serves it on a free loopback port, and times whole requests from an aiohttp client
(connection reused): one customer's invoices, a status filter, a created-time range ordered
by issue time, and a v3 page. Target (issue 8): median <= 20 ms at 10k invoices for a
filtered list. The first request of each query renders its invoices; the following ones are
served from the rendered texts (``api/listing.py``), as a partner polling the list sees it.

``--events`` then gives one webhook channel rules that see every invoice event of the
workspace (about 119k notification events at 10k invoices), and pages through
``GET /api/v1/notification/events`` (first, middle and last page of 100): the median time
of a page, and the memory one page allocates at its peak (``tracemalloc``), which stays
that of one page, not of every event.
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_store import build

from tui_billing.api import start_api
from tui_billing.service import Service
from tui_billing.service.notifications import Webhooks
from tui_billing.service.service import _dump
from tui_billing.store.repository import Put

EVENTS = "/api/v1/notification/events"


async def timed(http: aiohttp.ClientSession, path: str, rounds: int) -> tuple[float, float]:
    """The first request's time and the median of ``rounds`` more (ms)."""
    timings = []
    for _ in range(rounds + 1):
        started = time.perf_counter()
        async with http.get(path) as response:
            await response.read()
            assert response.status == 200, await response.text()
        timings.append((time.perf_counter() - started) * 1000)
    return timings[0], statistics.median(timings[1:] or timings)


async def measure(service: Service, rounds: int) -> dict[str, tuple[float, float]]:
    customer = service.customers()[0].id
    queries = {
        "customers=<one>": f"/api/v1/billing/invoices?customers={customer}",
        "statuses=draft,overdue": "/api/v1/billing/invoices?statuses=draft,overdue",
        "created range, orderBy=issuedAt DESC, pageSize=20": "/api/v1/billing/invoices"
        "?createdAfter=2000-01-01T00:00:00Z&orderBy=issuedAt&order=DESC&pageSize=20",
        "v3 filter[customer_id], page[size]=20": "/api/v3/openmeter/billing/invoices"
        f"?filter[customer_id]={customer}",
    }
    server = await start_api(service, port=0)
    try:
        async with aiohttp.ClientSession(server.url) as http:
            return {name: await timed(http, path, rounds) for name, path in queries.items()}
    finally:
        await server.stop()


def every_event_notified(service: Service) -> int:
    """One channel whose two rules see the whole event log (their cursors set back to 0),
    enqueued once: a notification event (and a delivery) per invoice event."""
    hooks = Webhooks(service)
    if not hooks.channels():
        _, rules = hooks.add("http://127.0.0.1:9/bench")
        for rule in rules:
            rule.cursor = 0
        service.repository.commit([Put("rules", _dump(rule)) for rule in rules])
        hooks.enqueue_new_events()
    return service.repository.count("notifications")


async def page_events(service: Service, rounds: int) -> dict[str, tuple[float, float]]:
    total = service.repository.count("notifications")
    last = (total + 99) // 100
    server = await start_api(service, port=0)
    found = {}
    try:
        async with aiohttp.ClientSession(server.url) as http:
            for name, page in (("first", 1), ("middle", last // 2), ("last", last)):
                path = f"{EVENTS}?page={page}&pageSize=100"
                _, median = await timed(http, path, rounds)
                tracemalloc.start()
                await timed(http, path, 0)
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                found[f"page {page} of {last} ({name})"] = (median, peak / 1e6)
    finally:
        await server.stop()
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--workspace", type=Path, help="build the workspace here once, and reuse it")
    parser.add_argument("--events", action="store_true", help="also page through notification events")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        path = args.workspace or Path(directory) / "bench.db"
        service = Service.open(path) if path.exists() else build(path, args.invoices)
        try:
            print(f"{len(service.invoice_rows())} invoices; first request, then median of {args.rounds}:")
            for name, (first, median) in asyncio.run(measure(service, args.rounds)).items():
                print(f"  {name:<55} {first:7.2f} ms, then {median:7.2f} ms")
            if args.events:
                print(f"{every_event_notified(service)} notification events; GET {EVENTS}, pageSize=100:")
                for name, (median, peak) in asyncio.run(page_events(service, args.rounds)).items():
                    print(f"  {name:<40} median {median:7.2f} ms, peak {peak:6.1f} MB allocated")
        finally:
            service.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
