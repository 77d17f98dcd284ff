"""Conditional create and update (FHIR R4 http.html#ccreate, #cond-update): which
resource a conditional write is about, decided inside the write transaction so that no
other write can slip in between the search and the write.

    POST with ifNoneExist / If-None-Exist   0 match: create (a new server id)
                                            1 match: no write, 200 and that resource
                                            more: 412
    PUT Type?criteria                       0 match: create, with the body's id if it has
                                            one (update as create), else a new server id
                                            1 match: update it (a body id naming another
                                            resource: 400)
                                            more: 412
"""

from __future__ import annotations

import uuid
from typing import Any

from .fhir import HisRequestError, check_id
from .search_params import condition
from .store import Writer


def settle(writer: Writer, method: str, rtype: str, criteria: str,
           resource: dict[str, Any] | None) -> tuple[str, bool]:
    """(the id this write is about, whether it matched an existing resource)."""
    found = writer.matches(rtype, condition(rtype, criteria))
    if len(found) > 1:
        raise HisRequestError(412, f"{rtype}?{criteria[:160]} matches more than one {rtype} "
                              f"({', '.join(found)}...): a conditional {method} needs at most "
                              "one", "multiple-matches")
    body_id = (resource or {}).get("id")
    if method == "POST":
        return (found[0], True) if found else (str(uuid.uuid4()), False)
    if found:
        if body_id is not None and body_id != found[0]:
            raise HisRequestError(400, f"{rtype}?{criteria[:160]} matches {rtype}/{found[0]} "
                                  f"but the resource's id is {str(body_id)[:80]!r}")
        return found[0], True
    if body_id is None:
        return str(uuid.uuid4()), False
    if not isinstance(body_id, str):
        raise HisRequestError(400, f"the resource's id {str(body_id)[:80]!r} is not a string")
    return check_id(body_id), False
