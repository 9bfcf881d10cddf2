"""The service layer: every command goes through ``Service``; it alone writes the store."""

from .service import ClockReport, LineEdit, Service

__all__ = ["ClockReport", "LineEdit", "Service"]
