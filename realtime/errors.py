"""The errors hub code raises and catches."""


class HubException(Exception):
    """A refusal whose message the caller may read (sent as the Completion error)."""
