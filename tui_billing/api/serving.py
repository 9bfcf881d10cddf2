"""The API and the webhook dispatcher started together on one event loop."""

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from ..domain.notifications import DEFAULT_RETRY_SCHEDULE, Attempt, Delivery
from ..service import Service
from .dispatcher import Dispatcher, start_dispatcher
from .server import ApiCall, ApiServer, CallbackResponse, start_api


@dataclass
class Serving:
    api: ApiServer
    dispatcher: Dispatcher

    @property
    def url(self) -> str:
        return self.api.url

    def notify(self) -> None:
        """Call after a command made outside the API (the dashboard's keys) so its
        webhooks go out at once instead of at the dispatcher's next poll."""
        self.dispatcher.notify()

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """Run the block with the service to yourself: API requests and dispatcher turns
        wait until it ends (see ``gate``)."""
        async with self.api.gate.hold(), self.dispatcher.gate.hold():
            yield

    async def stop(self) -> None:
        await self.api.stop()
        await self.dispatcher.stop()


async def start_serving(
    service: Service,
    *,
    host: str = "127.0.0.1",
    port: int = 8888,
    token: str | None = None,
    callback_response: CallbackResponse | None = None,
    on_change: Callable[[], None] | None = None,
    on_call: Callable[[ApiCall], None] | None = None,
    on_attempt: Callable[[Delivery, Attempt], None] | None = None,
    schedule: Sequence[float] = DEFAULT_RETRY_SCHEDULE,
) -> Serving:
    """Start the dispatcher, then the API (see ``start_api``), on the running loop.

    ``on_change`` is called, on the loop's thread, after every successful mutating API
    call and whenever deliveries were created or attempts logged: refresh what you show.
    Every mutating call also wakes the dispatcher, so its webhooks leave at once.
    """
    dispatcher = await start_dispatcher(
        service, schedule=schedule, on_change=on_change, on_attempt=on_attempt
    )

    def changed() -> None:
        dispatcher.notify()
        if on_change is not None:
            on_change()

    try:
        api = await start_api(
            service,
            host=host,
            port=port,
            token=token,
            callback_response=callback_response,
            on_change=changed,
            on_call=on_call,
        )
    except BaseException:
        await dispatcher.stop()
        raise
    return Serving(api, dispatcher)
