"""Errors a person can read: every refused command raises one of these."""


class BillingError(Exception):
    """A command was refused; nothing changed. ``str(error)`` is shown to the user."""

    kind = "invalid"


class InvalidValue(BillingError):
    """A value given to a command is malformed or out of range."""

    kind = "invalid"


class NotFound(BillingError):
    """An id does not name anything in the workspace."""

    kind = "not_found"


class NotAllowed(BillingError):
    """The command is valid but not allowed in the invoice's current state."""

    kind = "not_allowed"


class WorkspaceUnusable(BillingError):
    """The workspace file cannot be used (locked, damaged, foreign, unwritable); the store
    raises it (as its ``StoreError``) and the message says why and what to do."""

    kind = "workspace"


class Conflict(BillingError):
    """The command conflicts with the workspace as it is (for example a duplicate)."""

    kind = "conflict"
