"""What each kind of entry records, and the checks the forms and the local FHIR API share.

One module per kind (administration, observation, note, movement, order): each turns a
form's fields into a `Draft` (`from_form`) and checks a FHIR resource, typed or posted
(`check`), with the same rules. A check that fails raises `Invalid` with one `Problem`
per field, in French (the pages translate them through the catalogues, the API puts them
in an OperationOutcome); what is only implausible is a `Problem` in `warnings`: shown,
never blocking.

This module holds what every kind needs: the problems, the context of a write, and the
parsing of times, numbers and texts typed by a person.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as default
from zoneinfo import ZoneInfo

from ..errors import JournalError

MAX_TEXT = 4000  # a note: several paragraphs, not a document
MAX_SHORT = 200  # a comment, a site, a drug's name
BACK_HOURS = 24  # how far back a time may be entered (a dose given during the night)
FUTURE_SLACK = dt.timedelta(minutes=5)  # two clocks a few minutes apart are not the future
NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?")


@dataclass(frozen=True)
class Problem:
    """What is wrong with one field, in French; `values` fill the text's {placeholders}."""

    field: str
    text: str
    values: Mapping[str, object] = default(default_factory=dict)

    def message(self) -> str:
        return self.text.format(**self.values) if self.values else self.text


class Invalid(JournalError):
    """A form or resource that cannot be recorded: nothing was written."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.message()}" for p in problems))


@dataclass(frozen=True)
class Context:
    """What a check needs beyond the fields: when, where, for whom, by which role."""

    now: dt.datetime  # aware
    zone: str
    patient: str  # "Patient/<id>"
    role: str
    encounter: str | None = None  # "Encounter/<id>": the stay in progress, when there is one


@dataclass
class Checked:
    """A resource that may be recorded, and what looked implausible in it."""

    resource: dict
    warnings: list[Problem] = default(default_factory=list)


class Fields:
    """A form's fields, read one by one; problems are collected, raised together."""

    def __init__(self, raw: Mapping[str, object], context: Context):
        self.raw = raw
        self.context = context
        self.problems: list[Problem] = []

    def text(self, name: str, required: bool = False, limit: int = MAX_SHORT) -> str:
        value = " ".join(str(self.raw.get(name) or "").split()) if limit <= MAX_SHORT \
            else str(self.raw.get(name) or "").strip()
        if required and not value:
            self.problems.append(Problem(name, "Ce champ est obligatoire."))
        elif len(value) > limit:
            self.problems.append(Problem(name, "Texte trop long ({n} caractères, {limit} au plus).",
                                         {"n": len(value), "limit": limit}))
            return value[:limit]
        return value

    def number(self, name: str, required: bool = False) -> float | None:
        value = str(self.raw.get(name) or "").strip()
        if not value:
            if required:
                self.problems.append(Problem(name, "Ce champ est obligatoire."))
            return None
        if not NUMBER.fullmatch(value):
            self.problems.append(Problem(name, "« {value} » n'est pas un nombre.", {"value": value[:20]}))
            return None
        return float(value.replace(",", "."))

    def choice(self, name: str, allowed: Mapping[str, object] | tuple[str, ...],
               required: bool = True) -> str:
        value = str(self.raw.get(name) or "").strip()
        if not value and not required:
            return ""
        if value not in allowed:
            self.problems.append(Problem(name, "Choisissez une des valeurs proposées."))
        return value

    def when(self, name: str, back_hours: int = BACK_HOURS) -> dt.datetime:
        """A time typed as HH:MM (today, or yesterday when that is in the future) or as
        YYYY-MM-DDTHH:MM; empty means now. Neither in the future nor too far back."""
        now = self.context.now.astimezone(ZoneInfo(self.context.zone))
        value = str(self.raw.get(name) or "").strip()
        if not value:
            return now
        try:
            when = parse_local_time(value, now)
        except ValueError:
            self.problems.append(Problem(name, "Heure invalide : écrivez HH:MM ou AAAA-MM-JJTHH:MM."))
            return now
        if when > now + FUTURE_SLACK:
            self.problems.append(Problem(name, "Cette heure est dans le futur."))
        elif when < now - dt.timedelta(hours=back_hours):
            self.problems.append(Problem(name, "Plus de {hours} h en arrière : saisie refusée.",
                                         {"hours": back_hours}))
        return when

    def done(self) -> None:
        """Raise Invalid with every problem found, if any."""
        if self.problems:
            raise Invalid(self.problems)


def parse_local_time(value: str, now: dt.datetime) -> dt.datetime:
    """HH:MM on the day of `now` (the day before when later than now by more than an
    hour: 23:30 typed at 00:10), or a full local date and time; ValueError otherwise."""
    if re.fullmatch(r"\d{1,2}[:h]\d{2}", value):
        hour, minute = (int(x) for x in re.split(r"[:h]", value))
        when = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        return when - dt.timedelta(days=1) if when > now + dt.timedelta(hours=1) else when
    when = dt.datetime.fromisoformat(value)
    return when.replace(tzinfo=now.tzinfo) if when.tzinfo is None else when


def fhir_time(when: dt.datetime) -> str:
    """A FHIR dateTime with seconds and the local offset (what a HIS files as is)."""
    return when.isoformat(timespec="seconds")
