"""The integration surface: OpenMeter-compatible HTTP API and signed webhooks.

A front door onto the service like the dashboard; it never imports Textual. Start both
halves on a running asyncio loop with ``start_serving`` (or each with ``start_api``
and ``start_dispatcher``) and ``await handle.stop()`` to end them.
"""

from .dispatcher import Dispatcher, start_dispatcher
from .server import ApiCall, ApiServer, start_api
from .serving import Serving, start_serving

__all__ = [
    "ApiCall",
    "ApiServer",
    "Dispatcher",
    "Serving",
    "start_api",
    "start_dispatcher",
    "start_serving",
]
