from __future__ import annotations


class UnknownKey(LookupError):
    """No active key with that id."""


class BadJson(ValueError):
    pass
