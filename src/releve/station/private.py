"""Files only the station's account may read: everything in a station folder is health data
or derived from it (docs/station.md §1: every file 0600). The one way to make such a file
is releve.files's, named here for the station's modules."""

from __future__ import annotations

from ..files import create_private

__all__ = ["create_private"]
