"""Which resources of a vault an HL7 v2 feed made rather than a FHIR server gave.

Their ids begin with `v2-` (capture/hl7/mapping/ids.py makes them from what identifies
the thing in the messages). Two readers need to tell them apart: the FHIR capture, which
must never delete them because its server does not list them, and the way back's
verify, which leaves them out because the HIS's FHIR API never held them under those
ids, so comparing them by id would only report them all missing.
"""

from __future__ import annotations

FEED_ID_PREFIX = "v2-"


def made_by_a_feed(resource_id: str) -> bool:
    return resource_id.startswith(FEED_ID_PREFIX)
