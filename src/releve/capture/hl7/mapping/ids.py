"""The ids of the resources made from HL7 v2 messages.

An id is a pure function of what identifies the thing in the messages (the patient's
IPP and its assigning authority, the visit number, the filler order number...), so that
mapping the same messages again, after a crash or with a better mapping, gives the same
keys: the writer's dedup then writes only what changed, and a cancellation or a merge
knows which resource to delete. The `v2-` prefix marks the resources of this source: a
FHIR capture sharing the writer state never deletes them (capture/id_walk.py).
"""

from __future__ import annotations

import hashlib

from ....fhir.feeds import FEED_ID_PREFIX as PREFIX
from ....fhir.feeds import made_by_a_feed

_SEPARATOR = "\x1f"  # the ASCII unit separator: never inside an HL7 value


def made_here(resource_id: str) -> bool:
    """Whether an id is one this source made (and so this source alone may delete)."""
    return made_by_a_feed(resource_id)


def make(kind: str, *parts: str) -> str:
    """`v2-<kind>-<20 hex digits>`: at most 32 characters, well within FHIR's 64.

    80 bits of SHA-256: a collision among a hospital's few million resources has a
    probability below 1e-11."""
    digest = hashlib.sha256(_SEPARATOR.join((kind, *parts)).encode()).hexdigest()[:20]
    return f"{PREFIX}{kind}-{digest}"


def patient(patient_key: str) -> str:
    """A Patient, by its key (message.py: `authority|IPP`)."""
    return make("pat", patient_key)


def encounter(visit_key: str) -> str:
    """An Encounter, by its visit number (PV1-19) and that number's authority."""
    return make("enc", visit_key)


def location(*path: str) -> str:
    """A Location, by its place in the hospital: facility, ward, room, bed (as many as
    are known), so the same bed is one Location whichever message names it."""
    return make("loc", *path)


def practitioner(key: str) -> str:
    """A Practitioner, by its id number and authority (XCN-1, XCN-9), else its name."""
    return make("prac", key)


def message(sender: str, control_id: str) -> str:
    """The Binary that keeps a raw message: one per sender and control id (MSH-10), so a
    message sent twice is kept once."""
    return make("msg", sender, control_id)
