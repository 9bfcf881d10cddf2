"""The simulation's domain: models, lifecycle, money, time and events.

Nothing in this package imports Textual or TinyDB: the TUI, the CLI and the store are
front and back doors onto these rules, never places where they are restated.
"""
