"""The JSON of invoice lists: each invoice's v1 text rendered once per stored version.

A partner polling ``GET /api/v1/billing/invoices`` reads the same invoices again and again;
rendering one (reading its document, validating it, computing ``availableActions`` and
totals, serialising) costs far more than filtering 10k summaries. ``V1Texts`` keeps the
compact JSON of recently listed invoices, keyed by the invoice's stored version and the
context the rendering read (the clock and the hook flags), so an unchanged invoice is
served from the cache and a changed one, or a moved clock, renders afresh.
"""

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from ..domain.lifecycle import Context
from ..service import Service
from .problems import compact_json

CACHE_SIZE = 2048
"""Invoices whose text is kept (the least recently listed go first): 2 to 6 KB each."""


class V1Texts:
    """Compact v1 JSON of invoices for one workspace (one per server; loop thread only)."""

    def __init__(self, service: Service, size: int = CACHE_SIZE) -> None:
        self.service = service
        self.size = size
        self._texts: OrderedDict[tuple[str, bool], tuple[object, tuple[Any, ...], str]] = OrderedDict()

    def text(self, row: Mapping[str, Any], ctx: Context, *, lines: bool) -> str:
        """The invoice of summary ``row`` as v1 JSON text (with its lines or without)."""
        key = (row["id"], lines)
        version = self.service.invoice_version(row)
        stamp = (ctx.now, ctx.draft_hook, ctx.issuing_hook)
        cached = self._texts.get(key)
        if cached is not None and (cached[0] is version or cached[0] == version) and cached[1] == stamp:
            self._texts.move_to_end(key)
            return cached[2]
        body = self.service.invoice_v1(self.service.invoice_of(row), ctx)
        if not lines:
            body.pop("lines", None)
        text = compact_json(body)
        self._texts[key] = (version, stamp, text)
        self._texts.move_to_end(key)
        while len(self._texts) > self.size:
            self._texts.popitem(last=False)
        return text
