"""The conventions of a command-line tool: --version, shell completion, the settings file
(validated; theme, workspace, server, keymap) shown by ``config``, NO_COLOR."""

import io
import json
import shlex
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
from textual.widgets import Static
from tui_flows_def import MANUAL_APPROVAL, dashboard, select_invoice
from tui_support import StillApp, pilot_test

from tui_billing import settings
from tui_billing.cli import build_parser, main
from tui_billing.cli.completion import SHELLS
from tui_billing.cli.conventions import paint
from tui_billing.service import Service, tours
from tui_billing.tui.screens.help import Help
from tui_billing.tui.widgets.bars import AppBar
from tui_billing.tui.widgets.key_bar import KeyBar


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"tui-billing {metadata.version('tui-billing')}\n"


# --- completion ----------------------------------------------------------------------------
def complete(script: str, *words: str) -> list[str]:
    """What bash completes after ``tui-billing WORDS…`` (the last word is being typed)."""
    quoted = " ".join(shlex.quote(word) for word in ["tui-billing", *words])
    program = "\n".join(
        [
            script,
            f"COMP_WORDS=({quoted})",
            f"COMP_CWORD={len(words)}",
            "_tui_billing",
            'printf "%s\\n" "${COMPREPLY[@]}"',
        ]
    )
    result = subprocess.run(["bash", "--norc", "-c", program], capture_output=True, text=True, check=True)
    return result.stdout.split()


@pytest.fixture(scope="module")
def bash_script() -> str:
    return SHELLS["bash"](build_parser())


def test_bash_completes_commands_options_and_choices(bash_script: str) -> None:
    assert complete(bash_script, "pay") == ["payment"]
    assert "tour" in complete(bash_script, "") and "--version" in complete(bash_script, "")
    assert set(complete(bash_script, "payment", "01KDW", "")) >= {"paid", "payment_overdue", "void"}
    assert complete(bash_script, "--db", "x.db", "in") == ["init", "invoices"]  # --db's value skipped
    assert set(complete(bash_script, "init", "--")) >= {"--demo", "--scenario", "--force"}
    assert set(complete(bash_script, "webhooks", "")) >= {"add", "list", "remove", "deliveries", "replay"}
    assert complete(bash_script, "webhooks", "add", "--ev") == ["--events"]
    assert complete(bash_script, "completion", "")[:3] == ["bash", "zsh", "fish"]


def test_zsh_and_fish_scripts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "zsh"]) == 0
    zsh = capsys.readouterr().out
    assert "bashcompinit" in zsh and "complete -o default -F _tui_billing tui-billing" in zsh
    assert main(["completion", "fish"]) == 0
    fish = capsys.readouterr().out
    assert "complete -c tui-billing -n __fish_use_subcommand -a payment" in fish
    assert "-a 'paid payment_failed payment_uncollectible payment_overdue action_required void'" in fish
    for shell, script in (("zsh", zsh), ("fish", fish)):
        if shutil.which(shell):  # a syntax check where the shell is installed
            (tmp_path / shell).write_text(script)
            subprocess.run([shell, "-n", str(tmp_path / shell)], check=True)


# --- settings ----------------------------------------------------------------------------------
@pytest.fixture
def settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "settings.toml"
    monkeypatch.setenv(settings.ENV_VAR, str(path))
    monkeypatch.delenv("TUI_BILLING_DB", raising=False)
    return path


def test_the_file_lives_in_the_user_config_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings.ENV_VAR)
    from platformdirs import user_config_path

    assert settings.path() == user_config_path("tui-billing", appauthor=False) / "settings.toml"


def test_no_file_means_the_defaults(settings_file: Path) -> None:
    assert settings.load() == settings.Settings()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('theme = "nope"', "theme: no theme 'nope'"),
        ("[server]\nport = 70000", "server.port: Input should be less than or equal to 65535"),
        ('[server]\nport = "x"', "server.port: Input should be a valid integer"),
        ("colour = 1", "colour: unknown key"),
        ('[keymap]\n"invoice.approve" = ""', "keymap: invoice.approve: write keys like"),
        ("theme = ", "not valid TOML"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_key(
    settings_file: Path, text: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings_file.write_text(text)
    assert main(["customers"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"tui-billing: settings {settings_file}: ") and err.count("\n") == 1
    assert message in err


def test_an_unknown_binding_id_is_refused(settings_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings_file.write_text('[keymap]\n"invoice.aprove" = "ctrl+a"')
    assert main(["config"]) == 1
    assert "keymap.invoice.aprove: no dashboard binding has this id" in capsys.readouterr().err


def test_settings_apply_and_config_shows_them(
    settings_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace = tmp_path / "mine.db"
    settings_file.write_text(
        f'theme = "billing-light"\nworkspace = "{workspace}"\n'
        '[server]\nhost = "127.0.0.1"\nport = 9123\ntoken = "dev-token"\n'
        '[keymap]\n"invoice.approve" = "ctrl+a"\n'
    )
    assert main(["init"]) == 0 and workspace.exists()  # the settings' workspace
    args = build_parser(settings.load()).parse_args(["serve"])
    assert (args.host, args.port, args.token) == ("127.0.0.1", 9123, "dev-token")
    assert build_parser(settings.load()).parse_args(["--serve"]).serve == "127.0.0.1:9123"
    capsys.readouterr()
    assert main(["config", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["file"] == str(settings_file) and shown["file_exists"]
    assert shown["theme"] == "billing-light" and shown["workspace"] == str(workspace)
    assert shown["server"] == {"host": "127.0.0.1", "port": 9123, "token": "dev-token"}
    assert shown["keymap"]["invoice.approve"] == "ctrl+a" and shown["keymap"]["invoice.retry"] == "r"
    assert main(["config"]) == 0
    text = capsys.readouterr().out
    assert "invoice.approve" in text and "ctrl+a  (rebound)" in text and "\x1b" not in text


def test_the_variable_and_db_beat_the_settings_workspace(
    settings_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings_file.write_text(f'workspace = "{tmp_path / "settings.db"}"')
    monkeypatch.setenv("TUI_BILLING_DB", str(tmp_path / "variable.db"))
    assert main(["init"]) == 0
    assert main(["--db", str(tmp_path / "flag.db"), "init"]) == 0
    assert {p.name for p in tmp_path.glob("*.db")} == {"variable.db", "flag.db"}


@pilot_test
async def test_the_keymap_rebinds_dashboard_keys_by_binding_id(demo_service: Service) -> None:
    app = StillApp(demo_service, keymap={"invoice.approve": "ctrl+a", "clock.advance": "plus,t"})
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await select_invoice(pilot, MANUAL_APPROVAL)
        await pilot.press("a")  # no longer approve
        assert dashboard(pilot).selected.status.value == "draft.manual_approval_needed"  # type: ignore[union-attr]
        assert "^a" in str(dashboard(pilot).query_one(KeyBar).render())
        assert "[plus] clock" in str(dashboard(pilot).query_one(AppBar).render())
        assert "[ctrl+a] approve" in str(dashboard(pilot).query_one("#detail-body", Static).content)
        await pilot.press("ctrl+a")
        assert (
            demo_service.invoice(dashboard(pilot).selected.id).status.value != "draft.manual_approval_needed"
        )  # type: ignore[union-attr]
        await pilot.press("question_mark")
        assert isinstance(app.screen, Help)
        assert any(b.id == "invoice.approve" and b.key == "ctrl+a" for b in app.screen.bindings)


def test_a_tour_takes_the_settings_keymap_too() -> None:
    player = tours.TourPlayer(tours.load(tours.find("time")))
    try:
        StillApp(player.service, tour=player, keymap={"tour.next": "space"})
    finally:
        player.close()


# --- NO_COLOR ----------------------------------------------------------------------------------
class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert paint("x", "31", Terminal()) == "\x1b[31mx\x1b[0m"
    assert paint("x", "31", io.StringIO()) == "x"
    monkeypatch.setenv("NO_COLOR", "1")
    assert paint("x", "31", Terminal()) == "x"


def test_no_color_reaches_the_cli_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A refused command on a terminal: red prefix, unless NO_COLOR."""
    stderr = Terminal()
    monkeypatch.setattr("sys.stderr", stderr)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert main(["--db", str(tmp_path / "none.db"), "customers"]) == 1
    assert stderr.getvalue().startswith("\x1b[1;31mtui-billing:\x1b[0m ")
    stderr.seek(0)
    stderr.truncate()
    monkeypatch.setenv("NO_COLOR", "1")
    assert main(["--db", str(tmp_path / "none.db"), "customers"]) == 1
    assert stderr.getvalue().startswith("tui-billing: ")
