"""How a later message about a thing updates what earlier messages made of it.

Feeds send status-only follow-ups: an ORC^DC or ^HD with a bare RXE (the order number
and the drug), an ORU whose OBR-25 says C with only the corrected OBX, an SIU^S15 with a
minimal SCH. Were the later resource to replace the earlier one, it would erase the
dose, route and timing, the report's other results, the appointment's time and place: a
nurse would see a stopped order without its dose. So a later resource updates the
earlier one (docs/hl7/results-orders.md, "Later messages"):

- what the later one gives replaces the earlier's, what it leaves out is kept;
- `status`, `statusReason` and the time of the version (`issued`) always come from the
  later one, given or not;
- members that go together come together: one form of a choice (value[x], effective[x],
  dose[x]...) drops the other forms; an Observation's value brings its flags, range,
  method and comments (a corrected potassium must not keep the old one's "high"); an
  Appointment's start, end and length;
- some lists are merged item by item: identifiers (by type), a report's results (by
  reference), an order's dosages (by sequence) and their doses and rates, an
  appointment's participants (by kind of actor: a message naming no place keeps the
  place);
- a name the mapping gave for want of one (links.UNNAMED) never replaces a real one.

A cancellation or an entered-in-error is no exception: it brings its status and keeps
the content, so the station can tell what was cancelled, as its own cancellations do.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from functools import cache

from .links import UNNAMED

ALWAYS = ("status", "statusReason")  # from the later resource, given or not
VERSION_TIME = {"DiagnosticReport": ("issued",), "Observation": ("issued",)}
CHOICES = ("value", "effective", "occurrence", "medication", "asNeeded", "dose", "rate")
_TYPES = frozenset({"Quantity", "CodeableConcept", "String", "Boolean", "Integer", "Range",
                    "Ratio", "SampledData", "Time", "DateTime", "Period", "Timing", "Instant",
                    "Reference", "Age"})
# members a later resource gives together: giving one of them drops the earlier's others
TOGETHER = {
    "Observation": frozenset({"value", "dataAbsentReason", "interpretation", "referenceRange",
                              "method", "note"}),
    "Appointment": frozenset({"start", "end", "minutesDuration"}),
}
_ACTORS = ("Patient", "Practitioner", "Location")  # an appointment's participants, in order


def merged(earlier: dict, later: dict) -> dict:
    """The resource `earlier` updated by `later` (the same "Type/id", a later event);
    neither is changed."""
    kind = later.get("resourceType", "")
    made = _members(earlier, later, TOGETHER.get(kind, frozenset()))
    for name in ALWAYS + VERSION_TIME.get(kind, ()):
        if name not in later:
            made.pop(name, None)
    return made


def _members(earlier: dict, later: dict, together: frozenset[str]) -> dict:
    """Member by member, in the earlier resource's order, new members after."""
    given = {_family(name) for name in later}
    dropped = given | (together if given & together else frozenset())
    made: dict = {}
    for name, value in earlier.items():
        if name in later:
            made[name] = _member(name, value, later[name])
        elif _family(name) not in dropped:
            made[name] = value
    for name, value in later.items():
        made.setdefault(name, value)
    return made


def _member(name: str, earlier: object, later: object) -> object:
    if _unnamed(later):
        return earlier
    if isinstance(earlier, dict) and isinstance(later, dict) and name == "dosage":
        return _members(earlier, later, frozenset())
    if not (isinstance(earlier, list) and isinstance(later, list)):
        return later
    if name == "identifier":
        return _by(earlier, later, _identifier_type)
    if name == "result":
        return _by(earlier, later, lambda ref: ref.get("reference"))
    if name == "dosageInstruction":
        return _by(earlier, later, lambda dosage: dosage.get("sequence"), merge=True)
    if name == "doseAndRate":
        return _by(earlier, later, lambda _: 0, merge=True)  # the mapping gives one
    if name == "participant":
        return _participants(earlier, later)
    return later


def _by(earlier: list, later: list, key: Callable[[dict], Hashable], merge: bool = False) -> list:
    """Items of the same key replaced (or merged member by member), new ones added,
    the earlier's others kept in their place."""
    made = list(earlier)
    for item in later:
        at = next((n for n, old in enumerate(made) if _key(old, key) == _key(item, key)), None)
        if at is None:
            made.append(item)
        elif merge and isinstance(made[at], dict) and isinstance(item, dict):
            made[at] = _members(made[at], item, frozenset())
        else:
            made[at] = item
    return made


def _key(item: object, key: Callable[[dict], Hashable]) -> Hashable:
    return key(item) if isinstance(item, dict) else repr(item)


def _participants(earlier: list, later: list) -> list:
    """The later message's participants of each kind it names (an S14 sending the
    practitioners again, one taken off, gives the practitioners); the earlier's of the
    kinds it does not name (an S15 naming no place keeps the place)."""
    named = {_actor(p) for p in later}
    made = [p for p in earlier if _actor(p) not in named] + list(later)
    return sorted(made, key=lambda p: _ACTORS.index(_actor(p)) if _actor(p) in _ACTORS else len(_ACTORS))


def _actor(participant: object) -> str:
    actor = participant.get("actor") if isinstance(participant, dict) else None
    reference = actor.get("reference") if isinstance(actor, dict) else None
    return str(reference).partition("/")[0] if reference else ""


def _identifier_type(identifier: dict) -> Hashable:
    codings = (identifier.get("type") or {}).get("coding") or [{}]
    return codings[0].get("code"), identifier.get("system")


@cache  # member names are few: the mapping writes a fixed set
def _family(name: str) -> str:
    """A choice member's name without its type (valueQuantity -> value)."""
    for choice in CHOICES:
        if name.startswith(choice) and name[len(choice):] in _TYPES:
            return choice
    return name


def _unnamed(value: object) -> bool:
    """A name the mapping made up for want of one (a bare RXE: "Médicament non précisé")."""
    return isinstance(value, dict) and value.keys() == {"text"} and value["text"] in UNNAMED
