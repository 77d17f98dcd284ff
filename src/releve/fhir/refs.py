"""FHIR references, as a station has to read them from any server.

A reference may be relative (`Patient/123`), absolute (`https://his/fhir/Patient/123`),
versioned (`Patient/123/_history/4`), or something a station cannot follow (`#contained`,
`urn:uuid:...`, a logical identifier only). Everything the station indexes by patient or
location goes through `target`, so that all these spellings meet on `Type/id`.
"""

from __future__ import annotations

import re
from typing import Any

_TYPE = r"[A-Z][A-Za-z]{1,63}"
_ID = r"[A-Za-z0-9\-.]{1,64}"
_ID_ONLY = re.compile(_ID)
_REF = re.compile(rf"(?:^|/)({_TYPE})/({_ID})(?:/_history/[A-Za-z0-9\-.]{{1,64}})?/?$")


def target(reference: Any) -> tuple[str, str] | None:
    """(type, id) a Reference (or its `reference` string) points to, or None."""
    if isinstance(reference, dict):
        reference = reference.get("reference")
    if not isinstance(reference, str) or not reference or reference[0] == "#":
        return None
    match = _REF.search(reference)
    return (match.group(1), match.group(2)) if match else None


def target_id(reference: Any, resource_type: str) -> str | None:
    """The id a reference points to if it points to a resource of `resource_type`."""
    if isinstance(reference, str) and reference.startswith(resource_type):
        # the common spelling, `Type/id`, without the regular expression: this runs once
        # for every resource a station applies
        rest = reference[len(resource_type):]
        if rest[:1] == "/" and _ID_ONLY.fullmatch(rest, 1):
            return rest[1:]
    found = target(reference)
    return found[1] if found and found[0] == resource_type else None
