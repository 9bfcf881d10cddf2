"""A gate on the event loop in front of the service: the API's requests and the webhook
dispatcher's turns pass it freely, until someone holds it to run a long command alone.

The service is not thread-safe and the API calls it on the loop's thread, so a command
that runs in steps on the loop (the dashboard's clock advance, yielding between steps to
redraw) must not see another command run in between: it holds the gate, which lets no
one new in and waits for those already in to finish; the others wait at the gate until
it is released, then go on in the order they came.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Gate:
    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self._empty = asyncio.Event()
        self._empty.set()
        self._inside = 0
        self._holder = asyncio.Lock()

    @property
    def held(self) -> bool:
        return not self._open.is_set()

    @asynccontextmanager
    async def passage(self) -> AsyncIterator[None]:
        """Wait while the gate is held, then run the block (it counts as inside)."""
        while not self._open.is_set():  # held again before this waiter woke: wait again
            await self._open.wait()
        self._inside += 1
        self._empty.clear()
        try:
            yield
        finally:
            self._inside -= 1
            if not self._inside:
                self._empty.set()

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """Let no one new in, wait until those inside are done, then run the block alone."""
        async with self._holder:
            self._open.clear()
            try:
                await self._empty.wait()
                yield
            finally:
                self._open.set()
