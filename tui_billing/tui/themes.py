"""The dashboard's two themes: Textual's dark and light ones with colours that reach WCAG
AA contrast (4.5:1) wherever the dashboard writes with them (``tests/test_tui_contrast.py``
measures it on the rendered screen). Textual's own themes stay available by name."""

from textual.theme import Theme

DARK = Theme(
    name="billing-dark",
    primary="#0178D4",
    secondary="#004578",
    warning="#ffa62b",
    error="#ff6b81",
    success="#4EBF71",
    accent="#ffa62b",
    foreground="#e0e0e0",
    dark=True,
    variables={"footer-key-foreground": "#ffc46b"},
)
LIGHT = Theme(
    name="billing-light",
    primary="#004578",
    secondary="#0a5a9c",
    warning="#8a5300",
    error="#a3002c",
    success="#17692f",
    accent="#8a4600",
    foreground="#141414",
    background="#f2f2f2",
    surface="#fafafa",
    panel="#e6e6e6",
    dark=False,
    variables={"footer-key-foreground": "#002440", "text-muted": "#4d4d4d"},
)
THEMES: dict[str, Theme] = {theme.name: theme for theme in (DARK, LIGHT)}
DEFAULT = DARK.name
