"""The dashboard driven by its keys (Pilot): the flows a partner demos, refusals, the filter,
delete's confirmation, persistence across a restart, the palette and the help.

Behaviour only; how the screens look is ``test_tui_snapshots.py``'s job.
"""

import errno
import json
import os
import socket
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Static, TabbedContent
from tui_flows_def import (
    DRAFT_SYNCING,
    ISSUING_SYNCING,
    MANUAL_APPROVAL,
    PAYMENT_PENDING,
    SUBMIT,
    TAB_KEYS,
    call_api,
    dashboard,
    draft_sync_behind_the_back,
    partner_calls,
    select_invoice,
)
from tui_support import StillApp, make_app, pilot_test

from tui_billing.api import start_serving
from tui_billing.api.server import ROUTES
from tui_billing.domain.linespec import FlatFee
from tui_billing.service import Service
from tui_billing.service.commands import CreateInvoice
from tui_billing.service.notifications import Webhooks
from tui_billing.tui.app import ServeOptions
from tui_billing.tui.dialogs.choosers import Confirm, ConfirmDelete, CustomerChooser, PaymentChooser
from tui_billing.tui.dialogs.forms import (
    ClockForm,
    DraftSyncForm,
    EndpointForm,
    IssuingSyncForm,
    WorkflowForm,
)
from tui_billing.tui.lanes import LANES, lane_of
from tui_billing.tui.screens.api_screen import ApiScreen
from tui_billing.tui.screens.dashboard import Dashboard
from tui_billing.tui.screens.event_log import EventLog
from tui_billing.tui.screens.help import Help
from tui_billing.tui.widgets.activity import OPERATIONS, ActivityStrip
from tui_billing.tui.widgets.bars import AppBar, LaneBar
from tui_billing.tui.widgets.key_bar import KeyBar
from tui_billing.tui.widgets.preview import JsonView
from tui_billing.tui.widgets.row_list import RowList

SIZE = (80, 24)
LANE = {lane.key: index for index, lane in enumerate(LANES)}


# --- reading the screen -------------------------------------------------------------------
def counts(pilot: Pilot[None]) -> dict[str, int]:
    return dict(dashboard(pilot).query_one(LaneBar).counts)


def nonzero(pilot: Pilot[None]) -> dict[str, int]:
    return {lane: count for lane, count in counts(pilot).items() if count}


def detail(pilot: Pilot[None]) -> str:
    return str(dashboard(pilot).query_one("#detail-body", Static).content)


async def preview(pilot: Pilot[None], tab: str) -> tuple[str, str]:
    """Show JSON tab ``tab`` (they are filled when shown); its note and its JSON text."""
    board = dashboard(pilot)
    board.query_one("#preview", TabbedContent).active = tab
    await pilot.pause()
    view = board.query_one(f"#{tab.replace('tab-', 'json-')}", JsonView)
    return str(view.query_one("#json-note", Static).content), view.text


def status(pilot: Pilot[None]) -> str:
    selected = dashboard(pilot).selected
    assert selected is not None
    return selected.status.value


def list_numbers(pilot: Pilot[None]) -> list[str]:
    return [row["number"] for row in dashboard(pilot).query_one("#invoices", RowList).rows]


def event_log_rows(pilot: Pilot[None]) -> list[dict[str, Any]]:
    assert isinstance(pilot.app.screen, EventLog)
    return pilot.app.screen.query_one("#events", RowList).rows


def refused(app: StillApp) -> list[str]:
    return [notice.message for notice in app.notices if notice.title == "Refused"]


# --- the demo flows -----------------------------------------------------------------------
@pilot_test
async def test_both_hooks_on_new_invoice_to_paid(service: Service) -> None:
    """D and I turn both hooks on; a new invoice stops for each sync callback, then is paid."""
    Webhooks(service).add("http://127.0.0.1:9/hook")  # a channel for both invoice event types
    app = make_app(service)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert nonzero(pilot) == {}
        await pilot.press("D", "I")
        hooks = service.app()
        assert hooks.enable_draft_sync_hook and hooks.enable_issuing_sync_hook
        assert dashboard(pilot).query_one(AppBar).state[0].enable_issuing_sync_hook  # type: ignore[index]

        await pilot.press("c")
        assert isinstance(app.screen, CustomerChooser)
        await pilot.press("enter")
        invoice = dashboard(pilot).selected
        assert invoice is not None and invoice.customer.key == service.customers()[0].key
        assert nonzero(pilot) == {"draft": 1}
        assert status(pilot) == "draft.waiting_for_collection"
        await pilot.press("e")
        events_before = len(event_log_rows(pilot))
        await pilot.press("escape")

        await pilot.press("C")  # collect usage now: validated, then held for the draft hook
        assert status(pilot) == "draft.syncing"
        assert "[s] draft_synchronized" in detail(pilot)
        note, payload = await preview(pilot, "tab-generated")
        assert "not emitted yet" in note and "schema valid" in note
        assert f'"invoiceNumber": "{invoice.number}"' in payload

        await pilot.press("s")
        form = app.screen
        assert isinstance(form, DraftSyncForm)
        number = form.query_one("#number", Input).value
        await pilot.press(SUBMIT)
        assert status(pilot) == "draft.waiting_auto_approval"
        assert dashboard(pilot).selected.number == number  # type: ignore[union-attr]
        assert f"invoicing erp_inv_{invoice.id[-6:].lower()}" in detail(pilot)
        assert "ext erp_line_" in detail(pilot)

        await pilot.press("a")
        assert status(pilot) == "issuing.syncing"
        assert nonzero(pilot) == {"issuing": 1} and dashboard(pilot).lane == LANE["issuing"]
        assert "not emitted yet" in (await preview(pilot, "tab-generated"))[0]

        await pilot.press("s")
        assert isinstance(app.screen, IssuingSyncForm)
        await pilot.press(SUBMIT)
        assert status(pilot) == "payment_processing.pending"
        assert nonzero(pilot) == {"awaiting": 1} and dashboard(pilot).lane == LANE["awaiting"]
        note, payload = await preview(pilot, "tab-generated")
        assert "emitted" in note and "not emitted" not in note and "✔ schema valid" in note
        assert '"status": "sent"' in payload  # sent to customer in the issuing callback
        assert f"payment pi_{invoice.id[-10:].lower()}" in detail(pilot)
        assert '"extendedStatus": "payment_processing.pending"' in (await preview(pilot, "tab-v1"))[1]

        await pilot.press("p")
        assert isinstance(app.screen, PaymentChooser)
        await pilot.press("enter")  # the first allowed trigger: paid
        assert status(pilot) == "paid"
        assert nonzero(pilot) == {"paid": 1} and dashboard(pilot).lane == LANE["paid"]
        assert "nothing: this is an end state" in detail(pilot)
        assert '"status": "paid"' in (await preview(pilot, "tab-generated"))[1]
        note, webhooks = await preview(pilot, "tab-events")
        assert note.startswith("none sent yet") and '"type": "invoice.created"' in webhooks  # no dispatcher
        Webhooks(service).enqueue_new_events()  # what a serving dispatcher does after each command
        await preview(pilot, "tab-v1")
        note, webhooks = await preview(pilot, "tab-events")
        sent = Webhooks(service).invoice_notifications(invoice.id)
        assert note.startswith(f"{len(sent)} notification events sent") and sent
        assert f'"id": "{sent[-1].id}"' in webhooks and '"type": "invoice.created"' in webhooks
        assert '"status": "paid"' in webhooks

        await pilot.press("e")
        rows = event_log_rows(pilot)
        assert len(rows) > events_before
        assert rows[0]["invoice_id"] == invoice.id and rows[0]["seq"] == len(rows)
        assert '"status": "paid"' in app.screen.query_one(JsonView).text
        await pilot.press("escape")
        assert isinstance(app.screen, Dashboard)
        assert {n.title for n in app.notices} == {"Done"}  # nothing refused on the way


@pilot_test
async def test_hooks_off_new_invoice_goes_straight_to_awaiting_payment(service: Service) -> None:
    """With both hooks off (and no collection wait), a new invoice is issued at once."""
    app = make_app(service)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("w")
        assert isinstance(app.screen, WorkflowForm)
        await pilot.press("tab", "tab", "tab", *"PT0S", SUBMIT)  # collection interval: none
        assert service.workspace().workflow.collection_interval == "P0D"
        await pilot.press("c", "enter")
        assert status(pilot) == "payment_processing.pending"
        assert nonzero(pilot) == {"awaiting": 1} and dashboard(pilot).lane == LANE["awaiting"]
        history = detail(pilot).split("History", 1)[1].strip().splitlines()
        assert all(line.endswith("(next)") for line in history)  # no stop for a callback
        note = (await preview(pilot, "tab-generated"))[0]
        assert "emitted" in note and "not emitted" not in note


# --- refusals: nothing changes ------------------------------------------------------------------
@pilot_test
async def test_a_dimmed_key_says_why_and_changes_nothing(demo_service: Service) -> None:
    """The reason is the service's own refusal (the lifecycle's words), never the UI's."""
    app = make_app(demo_service)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert status(pilot) == "draft.sync_failed"  # retry and delete only
        board = dashboard(pilot)
        assert board.check_action("approve", ()) is None and board.check_action("payment", ()) is None
        rows = demo_service.invoice_rows()
        await pilot.press("a", "p", "s", "n", "f", "C")
        assert isinstance(app.screen, Dashboard)
        assert demo_service.invoice_rows() == rows
        refusals = demo_service.refusals(board.selected)  # type: ignore[arg-type]
        assert [n.title for n in app.notices] == [
            "Approve: not possible now",
            "Payment: not possible now",
            "Sync: not possible now",
            "Advance: not possible now",
            "Report sync failure: not possible now",
            "Collect usage: not possible now",
        ]
        assert {n.severity for n in app.notices} == {"warning"}
        messages = [n.message for n in app.notices]
        assert messages[0] == refusals["approve"] == "approve is not allowed in draft.sync_failed"
        assert messages[2].splitlines() == [refusals["draft_synchronized"], refusals["issuing_synchronized"]]
        assert messages[1].startswith(refusals["payment_status:paid"]) and "… and 5 more" in messages[1]
        assert messages[4] == refusals["report_failure"] and "draft.sync_failed" in messages[4]


@pilot_test
async def test_a_malformed_time_keeps_the_form_open(demo_service: Service) -> None:
    app = make_app(demo_service)
    async with app.run_test(size=SIZE) as pilot:
        await select_invoice(pilot, ISSUING_SYNCING)
        rows = demo_service.invoice_rows()
        await pilot.press("s", "enter", *"yesterday", SUBMIT)  # enter: on to the sent-at field
        assert isinstance(app.screen, IssuingSyncForm)
        assert "sent to customer at" in str(app.screen.query_one("#dialog-error", Static).content)
        await pilot.press("escape")
        assert isinstance(app.screen, Dashboard)
        assert demo_service.invoice_rows() == rows and status(pilot) == "issuing.syncing"


@pilot_test
async def test_malformed_durations_keep_the_forms_open(demo_service: Service) -> None:
    app = make_app(demo_service)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        before = (demo_service.now(), demo_service.workspace().workflow)
        await pilot.press("t", *"soon", "enter")
        assert isinstance(app.screen, ClockForm)
        assert "not a duration" in str(app.screen.query_one("#dialog-error", Static).content)
        await pilot.press("escape", "w", "tab", "tab", *"thirty days", SUBMIT)
        assert isinstance(app.screen, WorkflowForm)
        assert "due after" in str(app.screen.query_one("#dialog-error", Static).content)
        await pilot.press("escape", "t", "ctrl+a", *"-1h", "enter")
        assert "only moves forward" in str(app.screen.query_one("#dialog-error", Static).content)
        assert "1y" in " ".join(str(label.content) for label in app.screen.query(".field-label"))
        await pilot.press("escape")
        assert (demo_service.now(), demo_service.workspace().workflow) == before
        assert app.notices == []


@pilot_test
async def test_ctrl_c_cancels_a_form(demo_service: Service) -> None:
    app = make_app(demo_service)
    async with app.run_test(size=SIZE) as pilot:
        await select_invoice(pilot, DRAFT_SYNCING)
        for keys in (("t",), ("w",), ("c",), ("s", "tab")):  # from a field, a switch, a list
            await pilot.press(*keys, "ctrl+c")
            assert isinstance(app.screen, Dashboard), keys
        assert app.is_running and status(pilot) == "draft.syncing"


@pilot_test
async def test_a_long_form_at_80x24_shows_its_first_label(demo_service: Service) -> None:
    invoice = demo_service.execute(
        CreateInvoice(  # the draft hook holds it in draft.syncing
            demo_service.customers()[0].key, [FlatFee(f"Fee {i}", Decimal(10)) for i in range(5)]
        )
    )
    app = make_app(demo_service)
    async with app.run_test(size=SIZE) as pilot:
        await select_invoice(pilot, invoice.number)
        await pilot.press("s")
        form = app.screen
        assert isinstance(form, DraftSyncForm) and len(form.query(Input)) == 7
        fields, first = form.query_one("#dialog-fields"), form.query(".field-label").first()
        assert fields.max_scroll_y > 0  # the form does scroll
        assert fields.region.contains_region(first.region)


@pilot_test
async def test_the_payment_chooser_has_one_line_per_trigger(demo_service: Service) -> None:
    app = make_app(demo_service)
    async with app.run_test(size=SIZE) as pilot:
        await select_invoice(pilot, PAYMENT_PENDING)
        await pilot.press("p")
        options = app.screen.query_one(OptionList)
        assert options.virtual_size.height == options.option_count == 7  # none wraps
        assert "authorized (simulator)" in str(options.get_option_at_index(6).prompt)


@pilot_test
async def test_a_refused_command_says_why_and_changes_nothing(demo_service: Service) -> None:
    """The invoice moved on behind the dashboard's back: the service refuses the callback."""
    app = make_app(demo_service)
    async with app.run_test(size=SIZE) as pilot:
        await select_invoice(pilot, DRAFT_SYNCING)
        draft_sync_behind_the_back(demo_service)
        rows, events = demo_service.invoice_rows(), demo_service.event_rows()
        await pilot.press("s", SUBMIT)
        assert isinstance(app.screen, Dashboard)
        assert refused(app) and "draft.syncing" in refused(app)[0]
        assert [n.severity for n in app.notices] == ["error"]
        assert demo_service.invoice_rows() == rows and demo_service.event_rows() == events
        assert status(pilot) == "draft.waiting_auto_approval"  # the screen shows where it went


# --- the list -----------------------------------------------------------------------------------
@pilot_test
async def test_slash_filters_and_escape_clears(demo_service: Service) -> None:
    app = make_app(demo_service)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        everything = list_numbers(pilot)
        await pilot.press("slash", *"mora")
        assert list_numbers(pilot) == ["DRAFT-MORA-16", "DRAFT-MORA-10"]
        assert dashboard(pilot).selected.number == "DRAFT-MORA-16"  # type: ignore[union-attr]
        await pilot.press("enter", "j")  # back to the list, still filtered
        assert dashboard(pilot).selected.number == "DRAFT-MORA-10"  # type: ignore[union-attr]
        await pilot.press("escape")
        assert list_numbers(pilot) == everything
        assert not dashboard(pilot).query_one("#filter", Input).display
        assert app.focused is dashboard(pilot).query_one("#invoices", RowList)
        # by customer and by id too
        invoice_id = demo_service.invoice(MANUAL_APPROVAL).id
        await pilot.press("slash", *invoice_id[-8:].lower())
        assert list_numbers(pilot) == [MANUAL_APPROVAL]
        await pilot.press("escape", "slash", *"rollins")
        assert list_numbers(pilot) == [MANUAL_APPROVAL]


@pilot_test
async def test_the_panes_count_what_the_filter_shows(demo_service: Service) -> None:
    app = make_app(demo_service)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        everything = counts(pilot)
        await pilot.press("slash", *"mora")
        mora = [
            r
            for r in demo_service.invoice_rows()
            if "mora" in r["number"].lower() or "mora" in r["customer_name"].lower()
        ]
        assert sum(counts(pilot).values()) == len(mora) < sum(everything.values())
        assert counts(pilot)["draft"] == len(list_numbers(pilot)) == 2
        await pilot.press("escape")
        assert counts(pilot) == everything


@pilot_test
async def test_a_filtered_invoice_stays_shown_when_its_number_changes(demo_service: Service) -> None:
    app = make_app(demo_service)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *DRAFT_SYNCING.lower(), "enter")
        assert list_numbers(pilot) == [DRAFT_SYNCING]
        await pilot.press("s", SUBMIT)  # the draft synchronized form renumbers it ERP-…
        selected = dashboard(pilot).selected
        assert selected is not None and selected.number.startswith("ERP-")
        assert list_numbers(pilot) == [selected.number]  # still shown, still selected
        assert sum(counts(pilot).values()) == 1
        await pilot.press("slash", "end", "backspace")  # typing again filters afresh
        assert selected.number not in list_numbers(pilot)


@pilot_test
async def test_delete_needs_y_after_x(demo_service: Service) -> None:
    app = make_app(demo_service)
    async with app.run_test(size=SIZE) as pilot:
        await select_invoice(pilot, MANUAL_APPROVAL)
        rows = demo_service.invoice_rows()
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmDelete)
        await pilot.press("escape")
        await pilot.press("x", "x", "n")  # the trigger key again does not confirm
        assert isinstance(app.screen, Dashboard)
        assert demo_service.invoice_rows() == rows and status(pilot) == "draft.manual_approval_needed"
        before = counts(pilot)
        await pilot.press("x", "y")
        assert status(pilot) == "deleted" and dashboard(pilot).lane == LANE["closed"]
        assert counts(pilot) == {**before, "draft": before["draft"] - 1, "closed": before["closed"] + 1}


@pilot_test
async def test_json_tabs_follow_the_selection_and_y_copies_them(
    demo_service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TMUX", raising=False)
    app = make_app(demo_service)
    async with app.run_test(size=SIZE) as pilot:
        await select_invoice(pilot, DRAFT_SYNCING)
        await pilot.press("y")  # from the detail tab: the invoice's v1 JSON
        assert f'"number": "{DRAFT_SYNCING}"' in app.clipboard and '"extendedStatus"' in app.clipboard
        assert f'"invoiceNumber": "{DRAFT_SYNCING}"' in (await preview(pilot, "tab-generated"))[1]
        await pilot.press("j")  # the list keeps the focus; the shown tab follows the cursor
        assert f'"invoiceNumber": "{list_numbers(pilot)[2]}"' in (await preview(pilot, "tab-generated"))[1]
        await pilot.press("y")
        assert f'"invoiceNumber": "{list_numbers(pilot)[2]}"' in app.clipboard
        assert [n.title for n in app.notices] == ["Copied", "Copied"]


@pytest.mark.parametrize("tmux_works", [True, False])
@pilot_test
async def test_y_inside_tmux_says_where_the_copy_went(
    demo_service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tmux_works: bool
) -> None:
    """OSC 52 reaches the clipboard through tmux only with set-clipboard on: the copy also
    goes to tmux's paste buffer, and the toast says which; a tmux that refuses is said."""
    buffer = tmp_path / "buffer"
    fake = tmp_path / "bin" / "tmux"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\ncat > {buffer}\n" + ("" if tmux_works else "exit 1\n"))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("TMUX", "/tmp/tmux-0/default,1,0")
    app = make_app(demo_service)
    async with app.run_test(size=SIZE) as pilot:
        await select_invoice(pilot, DRAFT_SYNCING)
        await pilot.press("y")
        notice = app.notices[-1]
        assert f'"number": "{DRAFT_SYNCING}"' in buffer.read_text()
        if tmux_works:
            assert notice.title == "Copied" and "tmux's paste buffer" in notice.message
        else:
            assert notice.title == "Maybe not copied" and "set-clipboard on" in notice.message


# --- persistence ------------------------------------------------------------------------------
@pilot_test
async def test_the_state_survives_a_restart(service: Service, workspace_path: Path) -> None:
    app = make_app(service)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("D", "c", "j", "enter", "C", "t", "ctrl+a", *"2h", SUBMIT)
        shown = counts(pilot), dashboard(pilot).query_one(AppBar).state
    rows, events = service.invoice_rows(), service.event_rows()
    assert rows and service.app().enable_draft_sync_hook
    service.close()

    reopened = Service.open(workspace_path)
    try:
        assert reopened.invoice_rows() == rows and reopened.event_rows() == events
        app = make_app(reopened)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert (counts(pilot), dashboard(pilot).query_one(AppBar).state) == shown
            assert list_numbers(pilot) == [row["number"] for row in rows]
            assert status(pilot) == rows[0]["status"] == "draft.syncing"
    finally:
        reopened.close()


# --- outside calls (--serve) ------------------------------------------------------------------
@pilot_test
async def test_an_api_call_is_toasted_and_the_list_follows_its_invoice(demo_service: Service) -> None:
    app = make_app(demo_service, serve=ServeOptions(start_serving, port=0))
    async with app.run_test(size=SIZE) as pilot:
        await select_invoice(pilot, MANUAL_APPROVAL)
        target = demo_service.invoice(DRAFT_SYNCING)
        async with aiohttp.ClientSession() as client:
            url = f"{app.serving.url}/api/v1/apps/custom-invoicing/{target.id}/draft/synchronized"  # type: ignore[union-attr]
            async with client.post(url, json={"invoicing": {"invoiceNumber": "ERP-77"}}) as answer:
                assert answer.status == 200
        for _ in range(50):  # the dashboard redraws on its refresh interval
            await pilot.pause(0.05)
            if any(n.title == "API call" for n in app.notices):
                break
        after = demo_service.invoice(target.id).status.value
        assert [n.message for n in app.notices if n.title == "API call"] == [
            f"draft synchronized · {DRAFT_SYNCING} (now ERP-77): draft.syncing → {after}"
        ]
        board = dashboard(pilot)
        assert board.selected is not None and board.selected.id == target.id  # followed, not swapped
        assert board.lane == LANES.index(lane_of(after))


@pilot_test
async def test_a_failed_serve_stays_in_the_app_bar(demo_service: Service) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = make_app(demo_service, serve=ServeOptions(start_serving, port=port))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert app.serving is None
            assert [n.title for n in app.notices] == ["API not started"]
            await pilot.pause(0.3)
            await pilot.press("right", "left")  # the screen redraws; the reason stays
            bar = str(dashboard(pilot).query_one(AppBar).render())
            assert f"✖ API not running: 127.0.0.1:{port}: {os.strerror(errno.EADDRINUSE)}" in bar
            width = dashboard(pilot).query_one(AppBar).size.width
            assert all(len(line) <= width for line in bar.splitlines())  # whole, even at 80


@pilot_test
async def test_the_first_start_says_where_the_workspace_is(
    demo_service: Service, workspace_path: Path
) -> None:
    app = make_app(demo_service, first_start=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert [n.title for n in app.notices] == ["New demo workspace"]
        assert str(workspace_path) in app.notices[0].message
    again = make_app(demo_service)
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert again.notices == []


# --- palette, help, size ------------------------------------------------------------------------
async def palette_options(pilot: Pilot[None], query: str) -> list[str]:
    """Open the palette, type ``query``; the prompts it lists (it searches in a worker)."""
    await pilot.press("ctrl+p", *query)
    options = pilot.app.screen.query_one(OptionList)
    for _ in range(100):
        if options.option_count:
            break
        await pilot.pause()
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


@pilot_test
async def test_the_palette_lists_every_action_with_why_not_and_runs_it(demo_service: Service) -> None:
    app = make_app(demo_service)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert status(pilot) == "draft.sync_failed"  # retry and delete only
        commands = {c.title: c.help for c in app.get_system_commands(dashboard(pilot))}
        assert {"Retry", "Delete", "New", "Draft hook", "Approve", "Payment", "Sync", "Advance"} <= set(
            commands
        )
        assert commands["Retry"] == "key r" and commands["Filter"] == "key /"
        assert commands["Previous pane"] == "key ← h ["
        assert commands["Approve"] == "key a · not possible now: approve is not allowed in draft.sync_failed"
        assert not any("slash" in h or "question_mark" in h for h in commands.values())

        prompts = await palette_options(pilot, "pay")
        assert prompts and "not possible now" in prompts[0]  # listed, marked
        await pilot.press("enter")
        assert isinstance(app.screen, Dashboard)
        assert app.notices[-1].title == "Payment: not possible now"

        assert (await palette_options(pilot, "retry"))[0].startswith("Retry")
        await pilot.press("enter")
        assert isinstance(app.screen, Dashboard)
        assert status(pilot) == "draft.syncing"


@pilot_test
async def test_tab_has_two_stops_and_the_tabs_scroll_the_preview(demo_service: Service) -> None:
    app = make_app(demo_service)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        board = dashboard(pilot)
        invoices = board.query_one("#invoices", RowList)
        await pilot.press("tab")
        assert app.focused is not invoices
        await pilot.press("down", "down")  # from the tabs: the preview scrolls, the cursor stays
        assert board.query_one("#detail").scroll_offset.y == 2 and invoices.cursor == 0
        await pilot.press("tab")
        assert app.focused is invoices


@pilot_test
async def test_help_opens_and_closes(demo_service: Service) -> None:
    app = make_app(demo_service)
    async with app.run_test(size=SIZE) as pilot:
        for close in ("escape", "question_mark", "q"):
            await pilot.press("question_mark")
            assert isinstance(app.screen, Help)
            text = " ".join(str(s.content) for s in app.screen.query(Static))
            assert "Report sync failure" in text and "command palette" in text
            assert "Closed (uncollectible, voided, delete.failed, deleted)" in text
            assert "press one to read why" in text
            assert "issuing.failed" in text and "payment_processing.failed" in text
            await pilot.press(close)
            assert isinstance(app.screen, Dashboard)
        assert app.is_running  # q closed the help, not the app


@pilot_test
async def test_80x24_shows_every_part(demo_service: Service) -> None:
    app = make_app(demo_service)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        board = dashboard(pilot)
        keys = str(board.query_one(KeyBar).render())
        shown = [b.description for b in board.BINDINGS if getattr(b, "show", False)]
        assert all(description in keys for description in shown)
        assert board.query_one(KeyBar).region.bottom == SIZE[1]
        assert board.query_one("#invoices", RowList).region.height >= 6  # the whole Draft lane
        assert board.query_one("#preview").region.height >= 8
        assert board.query_one(AppBar).region.height == 2
        detail_text = detail(pilot)
        assert detail_text.index("Available now") < detail_text.index("customer")
        lines_shown = board.query_one("#detail").scrollable_content_region.height
        assert detail_text.splitlines().index("Available now") < lines_shown  # no scrolling needed
        tabs = board.query_one("#preview", TabbedContent)
        for tab, keys_to_tab in TAB_KEYS.items():
            tabs.active = "tab-detail"
            board.query_one("#invoices", RowList).focus()
            await pilot.press(*keys_to_tab)
            assert tabs.active == tab


@pilot_test
async def test_the_list_never_shows_two_states_as_failed_in_one_pane(demo_service: Service) -> None:
    app = make_app(demo_service)
    async with app.run_test(size=SIZE) as pilot:
        await select_invoice(pilot, "DRAFT-ROGR-18")
        invoices = dashboard(pilot).query_one("#invoices", RowList)
        shown = [invoices.columns[3].value(row) for row in invoices.rows]
        assert "delete.failed" in shown and "deleted" in shown and "failed" not in shown


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
@pilot_test
async def test_available_now_shows_without_scrolling(demo_service: Service, size: tuple[int, int]) -> None:
    app = make_app(demo_service)
    async with app.run_test(size=size) as pilot:
        for number in ("DRAFT-VEGA-17", PAYMENT_PENDING):  # a draft, and one with seven actions
            await select_invoice(pilot, number)
            view = dashboard(pilot).query_one("#detail")
            lines = detail(pilot).splitlines()
            first_action = lines.index("Available now") + 1
            assert first_action < view.scrollable_content_region.height, (number, size)


@pilot_test
async def test_outside_calls_show_by_operation_in_the_strip_and_the_api_screen(
    demo_service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TMUX", raising=False)
    app = make_app(demo_service, serve=ServeOptions(start_serving, port=0))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        strip = dashboard(pilot).query_one(ActivityStrip)
        assert strip.display and not strip.entries  # serving, no call yet
        await call_api(pilot, partner_calls(demo_service))
        assert strip.entries == [
            ("payment status: paid", PAYMENT_PENDING, 200),
            ("invoice approve", PAYMENT_PENDING, 400),
            ("draft synchronized", "ERP-2026-77", 200),
            ("invoice list", "", 200),
        ]
        assert dashboard(pilot).query_one("#invoices", RowList).region.height >= 6  # the list stays

        await pilot.press("A")
        assert isinstance(app.screen, ApiScreen)
        calls = app.screen.query_one("#calls", RowList).rows
        assert [(r["operation"], r["number"], r["status"]) for r in calls][:2] == [
            ("payment status: paid", PAYMENT_PENDING, "200"),
            ("invoice approve", PAYMENT_PENDING, "400"),
        ]
        shown = str(app.screen.query_one("#detail-text", Static).content)
        assert "simulated 2026-01-01 09:00:00Z" in shown and "wall      2026-03-02 14:00:04Z" in shown
        assert '"trigger": "paid"' in shown and '"status": "paid"' in shown
        await pilot.press("y")
        assert json.loads(app.clipboard)["number"] == PAYMENT_PENDING  # the response body
        await pilot.press("j")  # the refused approve: its problem body
        shown = str(app.screen.query_one("#detail-text", Static).content)
        assert "400 in 1.5 ms · POST" in shown and '"status": 400' in shown


@pilot_test
async def test_a_channel_is_added_inline_its_secret_copied_and_its_removal_confirmed(
    demo_service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TMUX", raising=False)
    app = make_app(demo_service)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("A", "plus")
        form = app.screen
        assert isinstance(form, EndpointForm)
        form.query_one("#url", Input).value = "ftp://example.com/hooks"
        await pilot.press(SUBMIT)
        assert app.screen is form  # stays open, says why under the fields, keeps the input
        assert "http:// or https://" in str(form.query_one("#dialog-error", Static).content)
        assert form.query_one("#url", Input).value == "ftp://example.com/hooks"
        assert not refused(app)  # inline, not a toast
        form.query_one("#url", Input).value = "http://127.0.0.1:9/hooks"
        await pilot.press(SUBMIT)
        screen = app.screen
        assert isinstance(screen, ApiScreen)
        (channel,) = Webhooks(demo_service).channels()
        assert app.focused is screen.query_one("#channels", RowList)
        shown = str(screen.query_one("#detail-text", Static).content)
        assert f"signing secret {channel.signing_secret}" in shown
        assert channel.signing_secret.startswith("whsec_")
        await pilot.press("y")
        assert app.clipboard == channel.signing_secret
        assert app.notices[-1].title == "Copied" and "signing secret" in app.notices[-1].message

        await pilot.press("minus")
        assert isinstance(app.screen, Confirm)
        await pilot.press("minus", "n")  # only y removes it
        assert app.screen is screen and Webhooks(demo_service).channels() == [channel]
        await pilot.press("minus", "y")
        assert app.screen is screen and Webhooks(demo_service).channels() == []
        assert screen.query_one("#channels", RowList).rows == []


@pilot_test
async def test_the_docked_log_at_200x50_shows_the_highlighted_event_beside_the_list(
    demo_service: Service,
) -> None:
    app = make_app(demo_service)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        board = dashboard(pilot)
        log, payload = board.query_one("#log", RowList), board.query_one("#log-payload", JsonView)
        assert log.region.width <= 72 and payload.region.width >= 120
        assert log.region.y - 1 == payload.region.y  # beside (under the header), not under
        assert json.loads(payload.text)["id"] == log.rows[0]["id"]  # the newest event


def test_every_api_operation_is_named_in_words() -> None:
    """The strip and the API screen name calls by operation: a new route needs its words."""
    assert {route.operation for route in ROUTES} == set(OPERATIONS)
