"""The notification sub-service: OpenMeter's outgoing webhooks, kept in the workspace.

The rules (models, checks, which events a rule selects, paging, the retry schedule,
retention) are pure functions in ``tui_billing.domain.notifications``; this package reads
the stored rows and writes through the service's unit of work (``_Tx``: one journal record
per command, or nothing changed). Sending is not done here: the dispatcher
(``tui_billing.api.dispatcher``) asks for due deliveries, makes the HTTP calls and records
each attempt through ``record_attempts``.

``Webhooks`` gathers the reads and the implementations of the notification commands, one
module a concern:

* ``reads.py`` — looking up channels, rules, notification events and deliveries (the base
  of the others);
* ``channels.py`` — channel commands, and the CLI's and dashboard's ``add`` and ``remove``;
* ``rules.py`` — rule commands and a rule's test event;
* ``events.py`` — notification events: made from the invoice event log, listed, sent as
  payloads;
* ``deliveries.py`` — delivery rounds: attempts, retries, retention and resends;
* ``migration.py`` — the webhook endpoints of earlier versions as channels and rules.

Front doors run the commands as registry commands (``CreateChannel``, ``AddChannel``,
``Resend``, … in ``service/commands.py``) through ``Service.execute``, never by method.
Only the dispatcher's bookkeeping (``enqueue_new_events``, ``record_attempts``) is called
directly: it is no user's command.
"""

from .channels import ChannelCommands, new_secret
from .deliveries import DeliveryCommands
from .events import EventCommands
from .reads import utcnow
from .rules import RuleCommands

__all__ = ["Webhooks", "new_secret", "utcnow"]


class Webhooks(ChannelCommands, RuleCommands, EventCommands, DeliveryCommands):
    """Commands and reads on channels, rules, notification events and deliveries."""
