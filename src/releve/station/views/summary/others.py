"""Everything no section read, counted by type with a few of its texts: a summary never
hides that the record holds more than it shows."""

from __future__ import annotations

from .model import Other, Summary
from .reader import Reader

OTHER_EXAMPLES = 5  # texts shown per resource type


def others(reader: Reader, summary: Summary) -> None:
    """Everything the sections before did not read, by type, so nothing is hidden."""
    for rtype, resources in reader.by_type.items():
        if rtype in reader.used or rtype == "Patient":
            continue
        for resource in resources:
            reader.other(rtype, resource)
    for rtype, count in reader.skipped.items():
        reader.others.setdefault(rtype, []).extend([""] * count)
    found = []
    for rtype, texts in sorted(reader.others.items()):
        unique = list(dict.fromkeys(t for t in texts if t))
        found.append(Other(rtype, len(texts), unique[:OTHER_EXAMPLES]))
    summary.others = found


