"""The journal's errors: an entry, a chain or a peer that is not sound, said by name."""

from __future__ import annotations

from ..errors import ReleveError


class JournalError(ReleveError):
    """A journal file, entry or request that cannot be accepted, with the reason."""
