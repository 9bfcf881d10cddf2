"""The dashboard: a keyboard-first Textual front door onto the service."""
