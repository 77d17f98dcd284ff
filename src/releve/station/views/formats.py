"""Dates and times as a French ward reads them: local time (Europe/Paris unless the station
says otherwise), day first, 24-hour clock, and ages in years (months for infants).

FHIR instants carry their offset; a FHIR date without a time is a calendar day and is
never shifted. Everything here accepts None and malformed text and then shows it as is
(or empty): a page never fails on a date.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from zoneinfo import ZoneInfo

from ... import clock

DEFAULT_ZONE = "Europe/Paris"
_DECIMAL = re.compile(r"(\d),(\d)")


def parse_instant(text: str | None) -> dt.datetime | None:
    """A FHIR dateTime with a time and an offset as an aware datetime, else None."""
    if not text or len(text) <= 10:
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def parse_date(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def local(when: dt.datetime, zone: str = DEFAULT_ZONE) -> dt.datetime:
    return when.astimezone(ZoneInfo(zone))


def shown_instant(text: str | None, zone: str = DEFAULT_ZONE) -> dt.datetime | None:
    """The instant a page shows: a dateTime with a time, its offset missing (as some HIS
    send them) read as the station's local time."""
    when = parse_instant(text)
    if when is not None or not text or len(text) <= 10 or "T" not in text:
        return when
    try:
        naive = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return naive.replace(tzinfo=ZoneInfo(zone)) if naive.tzinfo is None else naive


def date_text(text: str | None, zone: str = DEFAULT_ZONE) -> str:
    """'21/12/2000' (a date) or the local day of an instant; partial dates as given:
    '2019', '03/2019', never a made-up first of January."""
    if not text or not isinstance(text, str):
        return ""
    when = shown_instant(text, zone)
    if when is not None:
        return local(when, zone).strftime("%d/%m/%Y")
    if len(text) == 10 and (day := parse_date(text)):
        return day.strftime("%d/%m/%Y")
    if len(text) == 7:  # YYYY-MM
        return f"{text[5:7]}/{text[:4]}"
    return text


def datetime_text(text: str | None, zone: str = DEFAULT_ZONE) -> str:
    """'02/12/2025 14:03' in the station's zone; a bare or partial date as a date."""
    when = shown_instant(text, zone) if isinstance(text, str) else None
    if when is None:
        return date_text(text, zone)
    return local(when, zone).strftime("%d/%m/%Y %H:%M")


def time_text(text: str | None, zone: str = DEFAULT_ZONE) -> str:
    when = shown_instant(text, zone) if isinstance(text, str) else None
    return local(when, zone).strftime("%H:%M") if when else (text or "")


def age_text(birth: str | None, today: dt.date | None = None, lang: str = "fr",
             zone: str = DEFAULT_ZONE) -> str:
    """'82 ans', '7 mois', '12 j' (English: '82 y', '7 mo', '12 d'). Today is the ward's
    day (`zone`): a birthday starts at the station's midnight, not Paris'."""
    born = parse_date(birth)
    if born is None:
        return ""
    today = today or clock.today(zone)
    months = (today.year - born.year) * 12 + today.month - born.month - (today.day < born.day)
    if months >= 24:
        years = months // 12
        return f"{years} ans" if lang == "fr" else f"{years} y"
    if months >= 1:
        return f"{months} mois" if lang == "fr" else f"{months} mo"
    days = max((today - born).days, 0)
    return f"{days} j" if lang == "fr" else f"{days} d"


def ago_text(seconds: float, lang: str = "fr") -> str:
    """'il y a 2 min' / '2 min ago', up to days."""
    minutes = int(max(seconds, 0) // 60)
    if minutes < 1:
        value = "moins d'une minute" if lang == "fr" else "less than a minute"
    elif minutes < 120:
        value = f"{minutes} min"
    elif minutes < 48 * 60:
        value = f"{minutes // 60} h" if lang == "fr" else f"{minutes // 60} h"
    else:
        value = f"{minutes // 1440} j" if lang == "fr" else f"{minutes // 1440} d"
    return f"il y a {value}" if lang == "fr" else f"{value} ago"


def number_filter(lang: str) -> Callable[[object], str]:
    """Numbers in the reader's language: the summary writes them with a French comma."""
    def shown(text: object) -> str:
        value = str(text) if text is not None else ""
        return _DECIMAL.sub(r"\1.\2", value) if lang == "en" else value
    return shown
