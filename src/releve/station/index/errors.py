"""What goes wrong with the index as a whole."""

from __future__ import annotations

from ...errors import ReleveError


class StationIndexError(ReleveError):
    """The index cannot be opened or does not belong to this station's vault."""


class Unusable(StationIndexError):
    """The current generation is of another format, or damaged. The index is a cache of
    the vault: a sync builds a new generation from the vault's latest checkpoint
    (Index.replaced), while pages report this until it lands."""
