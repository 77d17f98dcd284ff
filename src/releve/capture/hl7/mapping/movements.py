"""A stay's movements, read from ADT messages, and which of them still hold.

An ADT feed is a story told with corrections: an admission may be cancelled (A11), a
transfer undone (A12), a discharge taken back (A13), and IHE PAM France numbers each
movement (ZBE-1) so that a later message can cancel or correct that very movement
(ZBE-4 CANCEL or UPDATE). Rather than patch an Encounter message by message, the stay
is replayed: the movements that still hold, after every cancellation and correction,
sorted by when they happened (ZBE-2, the movement's own time, before the message's
event time), give the Encounter (adt.py). Replaying makes the result the same
whatever order the messages arrived in, and the same bytes every time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from .. import datatypes as d
from ..message import Message

# The events that move a patient (or change the stay's state), and what each cancel
# event undoes when no ZBE names the movement.
MOVES = frozenset({"A01", "A02", "A03", "A04", "A05", "A06", "A07", "A21", "A22",
                   "A54", "Z80", "Z84"})
UNDOES = {"A11": ("A01", "A04"), "A12": ("A02",), "A13": ("A03",), "A38": ("A05",),
          "A52": ("A21",), "A53": ("A22",), "A55": ("A54",), "Z81": ("Z80",), "Z85": ("Z84",)}
# Changes of responsibility: the attending doctor (A54, PV1-7), the medical unit (PAM
# France Z80, ZBE-7), the nursing unit (Z84, ZBE-8). They neither move the patient nor
# change the stay's state; they hold, are corrected and cancelled like the others.
RESPONSIBILITY = frozenset({"A54", "Z80", "Z84"})
UPDATES = frozenset({"Z99"})  # PAM France: the correction of a movement (ZBE-4 UPDATE)


@dataclass(frozen=True)
class Ward:
    """A unit named in ZBE-7 (medical responsibility) or ZBE-8 (nursing care): XON."""
    code: str | None
    name: str | None


@dataclass(frozen=True)
class Movement:
    ident: str                 # ZBE-1, else the sender and control id of its message
    event: str                 # A01, A02... (for a correction: the corrected event, ZBE-6)
    time: str | None           # ZBE-2, else the message's event time
    order: int                 # position of its message in the group's sorted messages
    place: d.Place | None      # PV1-3
    nursing: Ward | None       # ZBE-8
    medical: Ward | None       # ZBE-7
    message: Message

    @property
    def when(self) -> tuple[str, int]:
        """The replay order: the movement's instant in UTC, then arrival."""
        return d.instant(self.time), self.order


@dataclass(frozen=True)
class Action:
    """What one message does to its stay."""
    verb: str                   # "insert", "update", "cancel" or "visit" (A08: no movement)
    movement: Movement
    targets: tuple[str, ...]    # for a cancel without a movement id: the events it undoes
    target_id: str | None       # ZBE-1 of the movement cancelled or corrected


def event_of(m: Message) -> str:
    """The trigger event of a message: "A01" from "ADT^A01"."""
    return m.header.kind.partition("^")[2]


def first(m: Message, name: str):
    """A message's first segment of that name, or None."""
    found = d.segments(m, name)
    return found[0] if found else None


def _ward(m: Message, zbe, field: int) -> Ward | None:
    """An XON unit: the organisation identifier (XON-10, else the older XON-3) and name."""
    reps = d.repetitions(m, zbe, field)
    if not reps:
        return None
    code = reps[0].get(10) or reps[0].get(3)
    name = reps[0].get(1)
    return Ward(code, name) if code or name else None


def read_action(m: Message, order: int) -> Action:
    """The movement a message records, and whether it adds, corrects or cancels one."""
    event = event_of(m)
    zbe = first(m, "ZBE")
    pv1 = first(m, "PV1")
    verb = "cancel" if event in UNDOES else "update" if event in UPDATES else (
        "insert" if event in MOVES else "visit")
    ident = target = original = None
    time = m.event_time
    nursing = medical = None
    if zbe is not None:
        ident, original = d.value(m, zbe, 1), d.value(m, zbe, 6)
        action = (d.value(m, zbe, 4) or "").upper()
        if verb != "visit" or action != "INSERT":  # an A08's ZBE records no movement
            verb = {"CANCEL": "cancel", "UPDATE": "update", "INSERT": "insert"}.get(action, verb)
        time = d.dtm(d.value(m, zbe, 2), d.PARIS) or time
        if verb in ("cancel", "update"):
            target = ident
        nursing, medical = _ward(m, zbe, 8), _ward(m, zbe, 7)
    place = None
    if pv1 is not None and (reps := d.repetitions(m, pv1, 3)):
        place = d.place(reps[0])
    movement = Movement(
        ident=ident or f"{m.header.sender}|{m.header.control_id}",
        event=(original or event) if verb == "update" else event, time=time, order=order,
        place=place, nursing=nursing, medical=medical, message=m)
    targets: tuple[str, ...] = ()
    if verb == "cancel" and target is None:
        targets = (original,) if original else UNDOES.get(event, ())
    return Action(verb, movement, targets, target)


def holding(actions: Sequence[Action]) -> list[Movement]:
    """The movements of one stay that still hold, in replay order.

    Independent of arrival order: a correction replaces the movement it names whenever
    it comes (the last correction, in message order, wins), a cancellation by id removes
    its movement whenever it comes. A cancellation without a movement id (other
    vendors) undoes the latest movement of its kind that happened before it, else the
    latest of its kind."""
    moves: dict[str, Movement] = {}
    corrections: dict[str, Movement] = {}
    cancelled: set[str] = set()
    for action in actions:
        movement = action.movement
        if action.verb == "insert":
            moves[movement.ident] = movement
        elif action.verb == "update" and action.target_id:
            corrections[action.target_id] = movement
        elif action.verb == "cancel" and action.target_id:
            cancelled.add(action.target_id)
    for ident, correction in corrections.items():
        original = moves.get(ident)
        event = original.event if original and correction.event in UPDATES else correction.event
        moves[ident] = dataclasses.replace(correction, ident=ident, event=event)
    for action in actions:
        if action.verb == "cancel" and not action.target_id and action.targets:
            _undo_latest(moves, cancelled, action)
    return sorted((m for ident, m in moves.items() if ident not in cancelled),
                  key=lambda m: m.when)


def _undo_latest(moves: dict[str, Movement], cancelled: set[str], action: Action) -> None:
    candidates = [m for ident, m in moves.items()
                  if m.event in action.targets and ident not in cancelled]
    if not candidates:
        return
    # By instant alone: a cancel stamped with the very time of what it cancels (some
    # read IHE PAM's EVN-6 so) reaches it whichever was logged first.
    before = [m for m in candidates if m.when[0] <= action.movement.when[0]]
    chosen = max(before or candidates, key=lambda m: m.when)
    cancelled.add(chosen.ident)


ADMISSIONS = ("A01", "A04", "A05")


def admission_undone(actions: Sequence[Action], moves: Sequence[Movement]) -> bool:
    """Whether the stay's admission was called off: none holds, and one was recorded
    or a cancellation of one came (its admission may predate the capture)."""
    if any(m.event in ADMISSIONS for m in moves):
        return False
    return any((a.verb in ("insert", "update") and a.movement.event in ADMISSIONS)
               or (a.verb == "cancel" and a.movement.event in ("A11", "A38"))
               for a in actions)
