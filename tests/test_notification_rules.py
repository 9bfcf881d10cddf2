"""The notification rules of ``domain/notifications.py``, without a workspace: channel and
rule checks, which events a rule selects, paging, the retry schedule, retention, resends."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tui_billing.domain.errors import InvalidValue, NotAllowed, NotFound
from tui_billing.domain.notifications import (
    DEFAULT_RETRY_SCHEDULE,
    AttemptResult,
    Channel,
    ChannelFields,
    Delivery,
    EventQuery,
    Notification,
    Rule,
    RuleFields,
    beyond_retention,
    channel_from,
    channel_json,
    check_deletable,
    check_headers,
    check_url,
    deliveries_for,
    delivery_state,
    endpoint_rule,
    log_attempt,
    notification_of,
    probe_invoice,
    resend_targets,
    retry_at,
    rule_from,
    rule_json,
    rule_types,
    same_url,
    secret_key,
    select_events,
    selected_events,
    sent_to,
    without_channel,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
C1, C2, C3 = "01KDWCJ2M0AAAAAAAAAAAAAAAA", "01KDWCJ2M0BBBBBBBBBBBBBBBB", "01KDWCJ2M0CCCCCCCCCCCCCCCC"
SECRET = "whsec_" + "A" * 43 + "="


def a_channel(channel_id: str = C1, **changes: Any) -> Channel:
    fields: dict[str, Any] = {
        "id": channel_id,
        "name": "hook",
        "url": "https://example.com/hook",
        "signing_secret": SECRET,
        "created_at": T0,
        "updated_at": T0,
    }
    return Channel(**(fields | changes))


def a_rule(rule_id: str = "R1", **changes: Any) -> Rule:
    fields: dict[str, Any] = {
        "id": rule_id,
        "type": "invoice.created",
        "name": "rule",
        "channels": [C1],
        "created_at": T0,
        "updated_at": T0,
        "cursor": 0,
    }
    return Rule(**(fields | changes))


def a_delivery(delivery_id: str, *, channel: str = C1, status: str = "pending", replay: int = 0) -> Delivery:
    return Delivery(
        id=delivery_id,
        notification_id="N1",
        channel_id=channel,
        event_seq=1,
        event_type="invoice.created",
        invoice_id="I1",
        replay=replay,
        status=status,
        created_at=T0,
        next_attempt_at=T0,
    )


def never() -> str:
    raise AssertionError("no new secret was wanted")


# --- channels ------------------------------------------------------------------------------------
def test_a_new_channel_is_checked_and_gets_a_new_secret() -> None:
    fields: ChannelFields = {
        "name": "  mine ",
        "url": " https://example.com/x ",
        "custom_headers": {"X-A": "1"},
    }
    channel = channel_from(fields, id=C1, current=None, now=T0, new_secret=lambda: SECRET)
    assert (channel.name, channel.url, channel.custom_headers) == (
        "mine",
        "https://example.com/x",
        {"X-A": "1"},
    )
    assert (channel.signing_secret, channel.created_at, channel.updated_at, channel.active) == (
        SECRET,
        T0,
        T0,
        True,
    )


def test_a_replaced_channel_keeps_its_secret_and_creation_time() -> None:
    current = a_channel()
    later = T0 + timedelta(hours=1)
    channel = channel_from(
        {"name": "renamed", "url": current.url, "disabled": True},
        id=C1,
        current=current,
        now=later,
        new_secret=never,
    )
    assert (channel.signing_secret, channel.created_at, channel.updated_at) == (SECRET, T0, later)
    assert channel.disabled and not channel.active


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "", "url": "https://example.com"}, "a name has 1 to 256"),
        ({"name": "x", "url": "ftp://example.com"}, "http:// or https://"),
        ({"name": "x", "url": "https://example.com/#top"}, "no #fragment"),
        ({"name": "x", "url": "https://example.com:99999/"}, "port"),
        ({"name": "x", "url": "https://exa mple.com/"}, "no spaces"),
        ({"name": "x", "url": "https://example.com", "signing_secret": "short"}, "whsec_ followed by base64"),
        (
            {"name": "x", "url": "https://example.com", "custom_headers": {"Svix-Id": "1"}},
            "set by the sender",
        ),
    ],
)
def test_a_channel_is_refused_with_the_reason(fields: ChannelFields, message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        channel_from(fields, id=C1, current=None, now=T0, new_secret=lambda: SECRET)


def test_headers_the_sender_sets_or_that_are_malformed_are_refused() -> None:
    assert check_headers({"X-Tenant": "a\tb"}) == {"X-Tenant": "a\tb"}
    for bad in ({"Content-Type": "x"}, {"webhook-id": "x"}, {"bad name": "x"}, {"X-A": "line\nbreak"}):
        with pytest.raises(InvalidValue):
            check_headers(bad)


def test_secret_key_takes_24_to_64_bytes_of_base64() -> None:
    assert len(secret_key(SECRET)) == 32
    assert secret_key(SECRET) == secret_key(SECRET.removeprefix("whsec_"))
    assert len(secret_key("whsec_" + "A" * 32)) == 24
    with pytest.raises(InvalidValue, match="24 to 64 bytes"):
        secret_key("whsec_" + "A" * 100)
    with pytest.raises(InvalidValue, match="not valid base64"):
        secret_key("whsec_" + "A" * 33)


def test_urls_name_the_same_endpoint_whatever_the_case_of_scheme_and_host() -> None:
    assert same_url(check_url("HTTPS://Example.COM"), "https://example.com/")
    assert not same_url("https://example.com/a", "https://example.com/b")
    assert not same_url("https://example.com:8443/", "https://example.com/")


def test_a_used_channel_cannot_be_deleted() -> None:
    check_deletable(a_channel(), [a_rule(channels=[C2])])
    with pytest.raises(NotAllowed, match="used by rule"):
        check_deletable(a_channel(), [a_rule(channels=[C2, C1])])


def test_taking_a_channel_out_deletes_the_rules_left_without_one() -> None:
    shared, alone, other = a_rule("R1", channels=[C1, C2]), a_rule("R2"), a_rule("R3", channels=[C3])
    later = T0 + timedelta(days=1)
    assert without_channel([shared, alone, other], C1, later) == [shared, alone]
    assert (shared.channels, shared.deleted_at, shared.updated_at) == ([C2], None, later)
    assert (alone.channels, alone.deleted_at) == ([], later)
    assert other.updated_at == T0


# --- rules ---------------------------------------------------------------------------------------
def test_a_new_rule_starts_after_the_events_logged_so_far() -> None:
    fields: RuleFields = {"type": "invoice.updated", "name": "r", "channels": [C1.lower(), C1, C2]}
    rule = rule_from(fields, id="R1", current=None, now=T0, event_seq=7, check_channel=lambda _: None)
    assert (rule.channels, rule.cursor, rule.created_at) == ([C1, C2], 7, T0)


def test_a_replaced_rule_keeps_its_cursor_unless_it_is_made_active_again() -> None:
    def replace(current: Rule, **changes: Any) -> Rule:
        fields: RuleFields = {"type": current.type, "name": current.name, "channels": current.channels}
        return rule_from(
            fields | changes,  # type: ignore[arg-type]
            id=current.id,
            current=current,
            now=T0,
            event_seq=9,
            check_channel=lambda _: None,
        )

    assert replace(a_rule(cursor=3)).cursor == 3
    assert replace(a_rule(cursor=3, disabled=True)).cursor == 9
    assert replace(a_rule(cursor=3), disabled=True).cursor == 3
    with pytest.raises(InvalidValue, match="keeps its type"):
        replace(a_rule(), type="invoice.updated")


def test_a_rule_is_refused_with_the_reason() -> None:
    def make(fields: RuleFields) -> Rule:
        def check(channel_id: str) -> None:
            if channel_id != C1:
                raise NotFound(f"no notification channel {channel_id!r}")

        return rule_from(fields, id="R1", current=None, now=T0, event_seq=0, check_channel=check)

    with pytest.raises(InvalidValue, match="unknown rule type"):
        make({"type": "invoice.deleted", "name": "r", "channels": [C1]})
    with pytest.raises(InvalidValue, match="at least one channel"):
        make({"type": "invoice.created", "name": "r", "channels": []})
    with pytest.raises(InvalidValue, match="is a ULID"):
        make({"type": "invoice.created", "name": "r", "channels": ["nope"]})
    with pytest.raises(NotFound):
        make({"type": "invoice.created", "name": "r", "channels": [C2]})


def test_rule_types_default_to_both_and_name_the_unknown_ones() -> None:
    assert rule_types([]) == ["invoice.created", "invoice.updated"]
    assert rule_types([" invoice.updated", "invoice.updated", ""]) == ["invoice.updated"]
    with pytest.raises(InvalidValue, match=r"unknown event type invoice\.paid"):
        rule_types(["invoice.paid"])


def test_an_endpoint_rule_is_named_after_its_url() -> None:
    rule = endpoint_rule("R1", "invoice.created", a_channel(), created_at=T0, updated_at=T0, cursor=4)
    assert (rule.name, rule.channels, rule.cursor) == ("invoice.created → https://example.com/hook", [C1], 4)


# --- notification events -------------------------------------------------------------------------
def event_row(seq: int, event_type: str = "invoice.created") -> dict[str, Any]:
    return {"id": f"E{seq}", "seq": seq, "type": event_type, "invoice_id": "I1", "timestamp": T0.isoformat()}


def test_a_rule_selects_the_events_of_its_type_after_its_cursor() -> None:
    created, updated = a_rule("R1", cursor=1), a_rule("R2", type="invoice.updated", cursor=2)
    rows = [event_row(1), event_row(2, "invoice.updated"), event_row(3), event_row(4, "invoice.updated")]
    picked = [(row["id"], rule.id) for row, rule in selected_events(rows, [created, updated])]
    assert picked == [("E3", "R1"), ("E4", "R2")]
    notification = notification_of("N1", created, rows[2], "INV-1")
    assert (notification.event_id, notification.event_seq, notification.invoice_number) == ("E3", 3, "INV-1")


def test_a_test_event_sends_the_newest_invoice_not_deleted() -> None:
    rows = [{"id": "I1", "status": "paid"}, {"id": "I2", "status": "deleted"}]
    assert probe_invoice(rows)["id"] == "I1"
    assert probe_invoice(rows[1:])["id"] == "I2"
    with pytest.raises(NotAllowed, match="no invoice"):
        probe_invoice([])


def notification_row(n: int, seq: int, *, rule: str = "R1", test: bool = False) -> dict[str, Any]:
    return {
        "id": f"N{n}",
        "rule_id": rule,
        "event_id": None if test else f"E{seq}",
        "event_seq": seq,
        "created_at": (T0 + timedelta(minutes=seq)).isoformat(),
    }


def test_events_are_listed_in_creation_order_a_test_event_after_its_number() -> None:
    rows = [
        notification_row(1, 2),
        notification_row(2, 1, test=True),
        notification_row(3, 1),
        notification_row(4, 3),
    ]
    ids = [row["id"] for row in select_events(rows, EventQuery())]
    assert ids == ["N3", "N2", "N1", "N4"]
    assert [row["id"] for row in select_events(rows, EventQuery(descending=True))] == ids[::-1]
    assert [row["id"] for row in select_events(rows, EventQuery(order_by="id"))] == ["N1", "N2", "N3", "N4"]


def test_events_are_filtered_by_time_rule_and_channel() -> None:
    rows = [notification_row(n, n, rule="R1" if n % 2 else "R2") for n in range(1, 7)]
    window = EventQuery(start=T0 + timedelta(minutes=2), end=T0 + timedelta(minutes=4))
    assert [row["id"] for row in select_events(rows, window)] == ["N2", "N3", "N4"]
    assert [row["id"] for row in select_events(rows, EventQuery(rules=frozenset({"R2"})))] == [
        "N2",
        "N4",
        "N6",
    ]
    deliveries = [
        {"notification_id": "N5", "channel_id": C2},
        {"notification_id": "N1", "channel_id": C1},
        {},
    ]
    sent = sent_to(deliveries, {C2})
    assert sent == {"N5"}
    assert [row["id"] for row in select_events(rows, EventQuery(channels=frozenset({C2})), sent)] == ["N5"]


# --- deliveries ----------------------------------------------------------------------------------
def test_deliveries_go_to_the_active_channels_with_a_round_suffix() -> None:
    notification = Notification(
        id="N1",
        type="invoice.created",
        rule_id="R1",
        created_at=T0,
        event_id="E1",
        event_seq=1,
        invoice_id="I1",
        invoice_number="INV-1",
    )
    first = deliveries_for(notification, [C1, C2], 0, active={C1}, now=T0)
    assert [(d.id, d.next_attempt_at) for d in first] == [(f"N1.{C1}", T0)]
    again = deliveries_for(notification, [C1], 2, active={C1}, now=T0)
    assert [(d.id, d.replay) for d in again] == [(f"N1.{C1}.r2", 2)]


def test_a_resend_goes_to_the_channels_the_event_went_to() -> None:
    previous = [a_delivery("D1", channel=C1), a_delivery("D2", channel=C2)]
    assert resend_targets("N1", previous, [C3], []) == [C1, C2]
    assert resend_targets("N1", previous, [C3], [C2, C2]) == [C2]
    assert resend_targets("N1", [], [C3], []) == [C3]
    with pytest.raises(InvalidValue, match=f"not sent to channel {C3}"):
        resend_targets("N1", previous, [C3], [C3])


def test_a_failure_is_retried_on_the_schedule_until_it_is_spent() -> None:
    schedule = (1.0, 5.0)
    assert retry_at(1, T0, schedule) == T0 + timedelta(seconds=1)
    assert retry_at(2, T0, schedule) == T0 + timedelta(seconds=5)
    assert retry_at(3, T0, schedule) is None
    delivery = a_delivery("D1")
    for n, status in enumerate(("pending", "pending", "failed"), 1):
        log_attempt(delivery, AttemptResult("D1", T0, 12.34, 500, "x" * 300), schedule)
        assert delivery.status == status and len(delivery.attempts) == n
    last = delivery.attempts[-1]
    assert (last.number, last.latency_ms, len(last.response), delivery.next_attempt_at) == (
        3,
        12.3,
        200,
        None,
    )


def test_a_2xx_ends_a_delivery() -> None:
    delivery = a_delivery("D1")
    log_attempt(delivery, AttemptResult("D1", T0, 1.0, 204), DEFAULT_RETRY_SCHEDULE)
    assert (delivery.status, delivery.next_attempt_at, delivery_state(delivery)) == (
        "succeeded",
        None,
        "SUCCESS",
    )


def test_delivery_states_as_openmeter_names_them() -> None:
    assert delivery_state(a_delivery("D1")) == "PENDING"
    assert delivery_state(a_delivery("D1", replay=1)) == "RESENDING"
    assert delivery_state(a_delivery("D1", status="cancelled")) == "FAILED"


def test_retention_drops_the_oldest_finished_deliveries_of_the_changed_channels() -> None:
    def row(n: int, status: str, channel: str = C1) -> dict[str, Any]:
        return {"id": f"D{n}", "channel_id": channel, "status": status}

    rows = [
        row(1, "pending"),
        row(2, "failed"),
        row(3, "succeeded", C2),
        row(4, "succeeded"),
        row(5, "pending"),
    ]
    just_finished = a_delivery("D5", status="succeeded")
    assert beyond_retention(rows, 3, {"D5": just_finished}) == ["D2"]
    assert beyond_retention(rows, 1, {"D5": just_finished}) == ["D2", "D4", "D5"]
    assert beyond_retention(rows, 0, {"D1": a_delivery("D1")}) == ["D2", "D4"]
    legacy = {"id": "D0", "endpoint_id": C1, "status": "failed"}  # no channel: not counted
    assert beyond_retention([legacy, *rows], 3, {"D5": just_finished}) == ["D2"]


# --- OpenMeter's JSON ----------------------------------------------------------------------------
def test_channel_and_rule_json() -> None:
    channel = a_channel(metadata={"k": "v"}, deleted_at=T0)
    shape = channel_json(channel)
    assert shape["type"] == "WEBHOOK" and shape["deletedAt"] and shape["metadata"] == {"k": "v"}
    assert shape["signingSecret"] == SECRET and shape["customHeaders"] == {}
    assert rule_json(a_rule())["channels"] == [{"id": C1, "type": "WEBHOOK"}]
    assert "metadata" not in rule_json(a_rule()) and rule_json(a_rule())["type"] == "invoice.created"
