"""Invoice list benchmark: filtered ``GET /api/v1/billing/invoices`` over loopback HTTP.

Run from the project root (not collected by pytest)::

    .venv/bin/python tests/benchmarks/bench_list.py                  # 10k invoices
    .venv/bin/python tests/benchmarks/bench_list.py --invoices 2000 --rounds 50

Builds a workspace of ``--invoices`` service-created invoices (``bench_store.build``:
customers billed month by month), serves it on a free loopback port, and times whole
requests from an aiohttp client (connection reused): one customer's invoices, a status
filter, a created-time range ordered by issue time, and a v3 page. Target (issue 8):
median <= 20 ms at 10k invoices for a filtered list.
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_store import build

from tui_billing.api import start_api
from tui_billing.service import Service


async def measure(service: Service, rounds: int) -> dict[str, float]:
    customer = service.customers()[0].id
    queries = {
        "customers=<one>": f"/api/v1/billing/invoices?customers={customer}",
        "statuses=draft,overdue": "/api/v1/billing/invoices?statuses=draft,overdue",
        "created range, orderBy=issuedAt DESC, pageSize=20": (
            "/api/v1/billing/invoices?createdAfter=2000-01-01T00:00:00Z&orderBy=issuedAt&order=DESC&pageSize=20"
        ),
        "v3 filter[customer_id], page[size]=20": (
            f"/api/v3/openmeter/billing/invoices?filter[customer_id]={customer}"
        ),
    }
    server = await start_api(service, port=0)
    medians = {}
    try:
        async with aiohttp.ClientSession(server.url) as http:
            for name, path in queries.items():
                timings = []
                for _ in range(rounds):
                    started = time.perf_counter()
                    async with http.get(path) as response:
                        await response.read()
                        assert response.status == 200, await response.text()
                    timings.append((time.perf_counter() - started) * 1000)
                medians[name] = statistics.median(timings)
    finally:
        await server.stop()
    return medians


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        service = build(Path(directory) / "bench.db", args.invoices)
        try:
            print(f"{len(service.invoice_rows())} invoices; median of {args.rounds} requests:")
            for name, median in asyncio.run(measure(service, args.rounds)).items():
                print(f"  {name:<55} {median:7.2f} ms")
        finally:
            service.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
