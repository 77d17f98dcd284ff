"""HL7 v2 messages to FHIR R4 resources, following HL7's v2-to-FHIR mapping where it
exists and IHE PAM France for the French segments (docs/hl7/README.md, "Mapping").

The mapping is a pure function of the messages: the same messages, in any arrival
order, give the same resources (ordered by event time), so it can run again after a
crash, or later with a better mapping, from the raw messages the vault keeps.

`project` is the one entry: a patient group's messages (patients linked by merges are
one group, under the surviving key) to every resource they produce. The ADT messages
together make the stay and the Patient (adt.py: an A11 undoes an A01, so they cannot
be mapped one by one; the others give the Patient when no ADT does); results, orders
and appointments are mapped message by message, in event order, a later event updating
what the earlier ones made of the same resource (a corrected result, a stopped order):
what it gives replaces, what it leaves out is kept (updates.py), so a status-only
follow-up does not erase a dose or a report's other results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import cache
from typing import TYPE_CHECKING

from . import ids

if TYPE_CHECKING:
    from ..message import Message

Mapper = Callable[["Message", str], list[dict]]


def project(messages: Sequence[Message], survivor: str) -> dict[str, dict]:
    """Every resource a patient group's messages produce, by key ("Type/id").

    `messages` in log order (the sort by event time keeps it among equal times);
    `survivor`: the patient key the group is known by (the last merge's).

    The mappers are imported here, not at the top: `ids` is imported by the FHIR
    capture's id walk, which has no use for python-hl7 and the mapping."""
    from ..datatypes import order_key

    ordered = sorted(messages, key=order_key)
    patient_id = ids.patient(survivor)
    return assemble(ordered, (message_resources(m, patient_id) for m in ordered
                              if not is_stay(m.header.kind)), survivor)


def assemble(stay: Sequence[Message], outputs: Iterable[list[dict]],
             survivor: str) -> dict[str, dict]:
    """A group's resources from its stay and the per-message outputs: `stay`, messages in
    event order, gives the Patient, Encounters, Locations and Practitioners (adt.py; it
    needs every ADT message, and of the others, which give the Patient only when no ADT
    does, the latest); `outputs`, what each other message gave on its own, in event
    order, each updating what the earlier ones made of the same resource. Apart so that
    the segment writer can keep the outputs of messages it mapped before (cached.py)."""
    from .adt import stay_resources
    from .updates import merged

    found = {_key(r): r for r in stay_resources(stay, survivor)}
    for resources in outputs:
        for resource in resources:
            key = _key(resource)
            found[key] = merged(found[key], resource) if key in found else resource
    return found


def is_stay(kind: str) -> bool:
    """An ADT message (identity events included), which the stay's fold reads with all
    the group's others; any other kind is mapped alone (`message_resources`)."""
    return kind.startswith("ADT^")


def message_resources(message: Message, patient_id: str) -> list[dict]:
    """What one message that is not ADT gives on its own (none for a kind without a
    mapper), for the patient id it is filed under."""
    mapper = _mappers().get(_family(message))
    return mapper(message, patient_id) if mapper is not None else []


@cache
def _mappers() -> dict[str, Mapper]:
    """The per-message mappers by message code (MSH-9.1)."""
    from .appointments import appointment_resources
    from .orders import order_resources
    from .results import result_resources

    return {"ORU": result_resources, "ORM": order_resources, "OMG": order_resources,
            "RDE": order_resources, "RAS": order_resources, "SIU": appointment_resources}


def _family(message: Message) -> str:
    return message.header.kind.partition("^")[0]


def _key(resource: dict) -> str:
    return f"{resource['resourceType']}/{resource['id']}"
