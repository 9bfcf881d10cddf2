"""tui-billing: a terminal simulator of OpenMeter's External Invoicing lifecycle."""

__version__ = "0.1.0"
