"""The service layer: every command goes through ``Service``; it alone writes the store."""

from ..domain.billing_clock import ClockProgress, ClockReport
from .commands import LineEdit
from .service import Service

__all__ = ["ClockProgress", "ClockReport", "LineEdit", "Service"]
