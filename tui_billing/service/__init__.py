"""The service layer: every command goes through ``Service``; it alone writes the store."""

from .commands import LineEdit
from .service import ClockReport, Service

__all__ = ["ClockReport", "LineEdit", "Service"]
