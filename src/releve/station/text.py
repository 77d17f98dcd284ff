"""Folding text for search: what a nurse types under stress must meet what the HIS wrote.

The folding itself lives in fhir/names.py, the one place the way back shares with the
station: the same folding is applied to the indexed names and to the query, so they
always agree.
"""

from __future__ import annotations

from ..fhir.names import _LIGATURES, compact, fold

__all__ = ["_LIGATURES", "compact", "fold"]
