"""A channel that never answers beside a healthy one: the healthy one keeps its pace.

Run from the project root (not collected by pytest)::

    .venv/bin/python tests/benchmarks/bench_hung_channel.py [--invoices 500]

Measures the healthy channel's deliveries per second twice on fresh workspaces with the
same invoices: alone, then beside a channel whose server accepts connections and never
answers (each of its attempts waits for the dispatcher's timeout). Goal (issue 10): the
healthy channel keeps at least 95% of its rate alone. The receiver is a separate process
that verifies every signature (``bench_api.receiver``).
"""

import argparse
import asyncio
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_api import START, new_invoices, receiver

from tui_billing.api import start_dispatcher
from tui_billing.service import Service
from tui_billing.service.notifications import Webhooks, new_secret


async def _silent_server() -> tuple[asyncio.Server, int]:
    """Accepts connections, reads, never answers."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(65536):
            pass
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def healthy_rate(folder: Path, invoices: int, port: int, secret: str, hung: bool) -> float:
    service = Service.create(folder / f"{'hung' if hung else 'alone'}.db", seed=7, now=START, customers=20)
    try:
        hooks = Webhooks(service)
        healthy, _ = hooks.add(f"http://127.0.0.1:{port}/hook", secret=secret)
        silent: Any = None
        if hung:
            silent, silent_port = await _silent_server()
            hooks.add(f"http://127.0.0.1:{silent_port}/hang")
        new_invoices(service, invoices)
        done = asyncio.Event()
        dispatcher = await start_dispatcher(service, on_change=done.set)
        started = time.perf_counter()
        try:
            rows = service.repository.rows
            while True:
                await done.wait()
                done.clear()
                mine = [r for r in rows("deliveries") if r["channel_id"] == healthy.id]
                if mine and all(r["status"] == "succeeded" for r in mine):
                    break
            elapsed = time.perf_counter() - started
        finally:
            await dispatcher.stop()
            if silent is not None:
                silent.close()
        rate = len(mine) / elapsed
        print(
            f"healthy channel {'beside a hung one' if hung else 'alone':>17}: {len(mine)} deliveries "
            f"in {elapsed:.2f} s = {rate:,.0f}/s"
        )
        return rate
    finally:
        service.close()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--invoices", type=int, default=500, help="invoices per measurement (default 500)")
    args = parser.parse_args()
    stop, ports = mp.Event(), mp.Queue()
    secret = new_secret()
    process = mp.Process(target=receiver, args=(secret, ports, stop))
    process.start()
    try:
        port = await asyncio.to_thread(ports.get, True, 60)
        with tempfile.TemporaryDirectory() as folder:
            alone = await healthy_rate(Path(folder), args.invoices, port, secret, hung=False)
            beside = await healthy_rate(Path(folder), args.invoices, port, secret, hung=True)
    finally:
        stop.set()
        await asyncio.to_thread(process.join, 60)
    share = beside / alone
    print(f"beside a hung channel the healthy one keeps {share:.0%} of its rate (goal >= 95%)")
    if share < 0.95:
        sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
