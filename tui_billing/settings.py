"""The user's settings file: ``settings.toml`` in the user config directory (or the file
``$TUI_BILLING_CONFIG`` names). Every key is optional::

    theme = "billing-light"            # the dashboard's theme
    workspace = "~/billing/demo.db"    # the workspace when neither --db nor $TUI_BILLING_DB
    [server]                           # tui-billing serve, and the dashboard's --serve
    host = "127.0.0.1"
    port = 8888
    token = "dev-token"
    [keymap]                           # dashboard keys by binding id (tui-billing config lists them)
    "invoice.approve" = "ctrl+a"
    "clock.advance" = "t,+"

A missing file means the defaults; a malformed one is refused with one line naming the
file and the key.
"""

import os
import tomllib
from pathlib import Path

from platformdirs import user_config_path
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .domain.errors import InvalidValue

ENV_VAR = "TUI_BILLING_CONFIG"


class Server(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8888, ge=0, le=65535)
    token: str | None = Field(default=None, min_length=1)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    theme: str | None = Field(default=None, min_length=1)
    workspace: Path | None = None
    server: Server = Server()
    keymap: dict[str, str] = {}

    @field_validator("theme")
    @classmethod
    def _theme(cls, theme: str | None) -> str | None:
        from textual.theme import BUILTIN_THEMES  # Textual loads only when a theme is set

        from .tui.themes import THEMES

        known = {*THEMES, *BUILTIN_THEMES}
        if theme is not None and theme not in known:
            raise ValueError(f"no theme {theme!r}; try one of {', '.join(sorted(known))}")
        return theme

    @field_validator("keymap")
    @classmethod
    def _keys(cls, keymap: dict[str, str]) -> dict[str, str]:
        for binding_id, keys in keymap.items():
            if not all(key.strip() for key in keys.split(",")):
                raise ValueError(f'{binding_id}: write keys like "ctrl+a" or "a,ctrl+a", got {keys!r}')
        return keymap


def path() -> Path:
    """Where the settings file is (it need not exist)."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    return user_config_path("tui-billing", appauthor=False) / "settings.toml"


def load(file: Path | None = None) -> Settings:
    """The settings in ``file`` (default: ``path()``); the defaults when it does not exist."""
    file = file or path()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings()
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidValue(f"settings {file}: cannot read it: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise InvalidValue(f"settings {file}: not valid TOML: {error}") from None
    try:
        settings = Settings.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        why = (
            "unknown key"
            if first["type"] == "extra_forbidden"
            else first["msg"].removeprefix("Value error, ")
        )
        raise InvalidValue(f"settings {file}: {key}: {why}") from None
    if settings.workspace is not None:
        settings.workspace = settings.workspace.expanduser()
    return settings
