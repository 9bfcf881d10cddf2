"""Certify a partner's integration: the simulator drives it, injects faults and grades it.

``engine.Run`` runs the suites of ``fixtures/certify/`` (``suites.py``); ``faults.py`` is the
call log and fault injection of the run's own server; ``report.py`` the scorecard, JUnit
and JSON; ``cli.py`` the ``tui-billing certify`` command.
"""
