"""Widgets, by the part of the screen they serve."""
