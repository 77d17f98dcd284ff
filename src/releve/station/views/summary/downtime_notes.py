"""Notes and transmissions recorded on the stations: the page shows them in their own
section, with their history, from the journal (web/rec_observations.py). Here they are
only kept out of the two places that would repeat them: the Documents table (whose links
open the HIS's documents) and "Autres éléments"."""

from __future__ import annotations

from .model import Summary
from .reader import Reader

RECORDED_TYPES = ("DocumentReference", "Communication")


def downtime_notes(reader: Reader, summary: Summary) -> None:
    recorded = [r for rtype in RECORDED_TYPES for r in reader.by_type.get(rtype, [])
                if reader.recorded(r) is not None]
    for resource in recorded:
        reader.shown.add(id(resource))
        reader.unshown.pop(id(resource), None)
    ids = {r.get("id") for r in recorded if r.get("resourceType") == "DocumentReference"}
    summary.documents = [d for d in summary.documents
                         if not (d.kind == "DocumentReference" and d.id in ids)]
