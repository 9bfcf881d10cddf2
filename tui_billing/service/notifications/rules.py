"""Rule commands: create, replace and delete a rule, and send a rule's test event."""

from typing import Unpack

from ...domain.notifications import Notification, Rule, RuleFields, probe_invoice, rule_from
from ...store.repository import Put
from ..service import _dump, _Tx
from .reads import WebhookReads


class RuleCommands(WebhookReads):
    def create_rule(self, **fields: Unpack[RuleFields]) -> Rule:
        return self._save_rule(None, fields)

    def update_rule(self, rule_id: str, **fields: Unpack[RuleFields]) -> Rule:
        """Replace a rule's settings (it keeps its type)."""
        return self._save_rule(self.rule(rule_id), fields)

    def delete_rule(self, rule_id: str) -> Rule:
        rule = self.rule(rule_id)
        tx = _Tx(self.service)
        rule.deleted_at = rule.updated_at = tx.ws.now
        tx.puts.append(Put("rules", _dump(rule)))
        tx.commit()
        return rule

    def test_rule(self, rule_id: str) -> Notification:
        """A test event of the rule's type, sent now to its enabled channels. Its invoice is
        the workspace's newest one not deleted (else the newest), as it is now."""
        rule = self.rule(rule_id)
        invoice = self.service.invoice(probe_invoice(self.service.invoice_rows())["id"])
        tx = _Tx(self.service)
        notification = Notification(
            id=tx.new_id(),
            type=rule.type,
            rule_id=rule.id,
            created_at=tx.ws.now,
            event_id=None,
            event_seq=tx.ws.event_seq,
            invoice_id=invoice.id,
            invoice_number=invoice.number,
            test_data=self.service.invoice_v1(invoice),
        )
        tx.puts.append(Put("notifications", _dump(notification)))
        tx.puts += [Put("deliveries", _dump(d)) for d in self._new_deliveries(notification, rule.channels, 0)]
        tx.commit()
        return notification

    def _save_rule(self, current: Rule | None, fields: RuleFields) -> Rule:
        """Store a new rule (``current`` None) or ``current`` replaced."""
        tx = _Tx(self.service)
        rule = rule_from(
            fields,
            id=tx.new_id() if current is None else current.id,
            current=current,
            now=tx.ws.now,
            event_seq=tx.ws.event_seq,
            check_channel=self.channel,
        )
        tx.puts.append(Put("rules", _dump(rule)))
        tx.commit()
        return rule
