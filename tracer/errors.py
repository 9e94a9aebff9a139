"""Errors that reach a person as one line (the CLI prints str(e) and exits non-zero)."""


class GemscopeError(Exception):
    """Base: a problem the user can act on; its text is one actionable sentence."""


class RecordingError(GemscopeError):
    """A recording (or bundle) cannot be opened or is damaged."""


class CannotAnswer(GemscopeError):
    """An analysis lacks the events it needs; shown as 'cannot answer', never as zero."""
