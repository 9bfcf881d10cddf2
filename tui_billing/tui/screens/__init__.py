"""Full screens: the dashboard, the event log and the help."""
