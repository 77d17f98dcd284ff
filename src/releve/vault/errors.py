"""The vault's errors derive from `VaultError`, so a caller of vault/ catches one class."""

from __future__ import annotations

from ..errors import ReleveError


class VaultError(ReleveError):
    """The vault refuses an operation or is not sound; the message says why."""
