"""The service layer: every command goes through ``Service``; it alone writes the store."""

from .service import ClockProgress, ClockReport, LineEdit, Service

__all__ = ["ClockProgress", "ClockReport", "LineEdit", "Service"]
