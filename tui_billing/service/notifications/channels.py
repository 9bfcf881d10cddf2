"""Channel commands: create, replace and delete a channel; ``add`` and ``remove``, the CLI's
and dashboard's shortcuts that manage a channel together with its rules."""

import base64
import secrets
from collections.abc import Sequence
from typing import Unpack

from ...domain.errors import Conflict
from ...domain.notifications import (
    SECRET_PREFIX,
    Channel,
    ChannelFields,
    Rule,
    channel_from,
    check_deletable,
    check_url,
    endpoint_rule,
    rule_types,
    same_url,
    without_channel,
)
from ...store.repository import Put
from ..service import _dump, _Tx
from .reads import WebhookReads


def new_secret() -> str:
    """A signing secret like OpenMeter's (Svix): ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


class ChannelCommands(WebhookReads):
    def create_channel(self, **fields: Unpack[ChannelFields]) -> Channel:
        return self._save_channel(None, fields)

    def update_channel(self, channel_id: str, **fields: Unpack[ChannelFields]) -> Channel:
        """Replace a channel's settings; without a secret it keeps its own."""
        return self._save_channel(self.channel(channel_id), fields)

    def delete_channel(self, channel_id: str) -> Channel:
        """Soft-delete a channel no active rule uses (as OpenMeter refuses otherwise)."""
        channel = self.channel(channel_id)
        check_deletable(channel, self.rules())
        tx = _Tx(self.service)
        self._delete_channel(tx, channel)
        tx.commit()
        return channel

    def add(
        self, url: str, *, secret: str | None = None, event_types: Sequence[str] = ()
    ) -> tuple[Channel, list[Rule]]:
        """A channel for ``url`` and one rule per event type (default both), in one commit."""
        types = rule_types(event_types)
        url = check_url(url)
        if any(same_url(c.url, url) for c in self.channels()):
            raise Conflict(f"a channel already sends to {url}; remove it first or use another URL")
        tx = _Tx(self.service)
        now = tx.ws.now
        channel = channel_from(
            {"name": url[:256], "url": url, "signing_secret": secret},
            id=tx.new_id(),
            current=None,
            now=now,
            new_secret=new_secret,
        )
        rules = [
            endpoint_rule(tx.new_id(), t, channel, created_at=now, updated_at=now, cursor=tx.ws.event_seq)
            for t in types
        ]
        tx.puts += [Put("channels", _dump(channel))] + [Put("rules", _dump(r)) for r in rules]
        tx.commit()
        return channel, rules

    def remove(self, channel_id: str) -> Channel:
        """Delete a channel, taking it out of every rule (a rule left without channels is
        deleted too); its pending deliveries are cancelled. One commit."""
        channel = self.channel(channel_id)
        tx = _Tx(self.service)
        tx.puts += [Put("rules", _dump(r)) for r in without_channel(self.rules(), channel.id, tx.ws.now)]
        self._delete_channel(tx, channel)
        tx.commit()
        return channel

    def _save_channel(self, current: Channel | None, fields: ChannelFields) -> Channel:
        """Store a new channel (``current`` None) or ``current`` replaced; the pending
        deliveries of a channel no longer active are cancelled."""
        tx = _Tx(self.service)
        channel = channel_from(
            fields,
            id=tx.new_id() if current is None else current.id,
            current=current,
            now=tx.ws.now,
            new_secret=new_secret,
        )
        tx.puts.append(Put("channels", _dump(channel)))
        if current is not None and not channel.active:
            tx.puts += self._cancel(lambda d: d.channel_id == channel.id, "the channel was disabled")
        tx.commit()
        return channel

    def _delete_channel(self, tx: _Tx, channel: Channel) -> None:
        """Soft-delete ``channel`` in ``tx``, cancelling its pending deliveries."""
        tx.puts += self._cancel(lambda d: d.channel_id == channel.id, "the channel was deleted")
        channel.deleted_at = channel.updated_at = tx.ws.now
        tx.puts.append(Put("channels", _dump(channel)))
