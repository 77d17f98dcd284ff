"""Code status and advance directives: what must be known before anyone starts
resuscitating, read from the three places HIS record it.

- Consent: an advance directive (scope `adr`, category `acd`), a do-not-resuscitate
  consent (category `dnr`) or portable orders (category `polst`), while active and
  within its provision's period; its provision says what is refused (deny) or accepted
  (permit).
- Flag: a do-not-resuscitate alert (alerts.flag_kind, the census's rule) or a
  limitation of active treatment ("limitation des thérapeutiques actives", LATA), while
  active (alerts.flag_active).
- DocumentReference: an advance-directive document (LOINC document types, or its words),
  current and not entered in error.

Everything is said in words: a code nobody gave a display for is replaced by the label
of its kind, never shown bare. Inactive, rejected, superseded and mistaken records are
not code status.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from . import alerts
from .alerts import says
from .values import (
    as_dict,
    as_list,
    as_text,
    codes,
    concept_text,
    concept_words,
    effective,
    end_instant,
    period,
)

DNR, LIMITATION, POLST, DIRECTIVE, PROXY = alerts.DNR, "limitation", "polst", "directive", "proxy"
KINDS = (DNR, LIMITATION, POLST, DIRECTIVE, PROXY)  # the order a page lists them in
GLANCE = (DNR, LIMITATION)  # the kinds that change what a nurse does in an emergency
LABELS = {
    DNR: "Ne pas réanimer",
    LIMITATION: "Limitation des thérapeutiques actives (LATA)",
    POLST: "Prescriptions médicales anticipées (POLST)",
    DIRECTIVE: "Directives anticipées",
    PROXY: "Mandataire de santé / personne de confiance",
}
SOURCES = {"Consent": "Consentement", "Flag": "Alerte", "DocumentReference": "Document"}
PROVISION = {"deny": "refus", "permit": "accord"}
# LOINC document types of advance directives, and the kind each records
DOCUMENT_KINDS = {
    "42348-3": DIRECTIVE,  # advance healthcare directives
    "75320-2": DIRECTIVE,  # advance directive
    "86533-7": DIRECTIVE,  # living will
    "81334-5": DIRECTIVE,  # personal advance care plan
    "64298-3": PROXY,  # power of attorney
    "93037-0": POLST,  # portable medical order form
}
# words that name each kind, matched in lower case; the short ones as whole words only
LIMITATION_WORDS = ("lata", "limitation des thérapeutiques", "limitation des therapeutiques",
                    "limitation des soins", "limitation thérapeutique", "limitation de traitement",
                    "arrêt des thérapeutiques actives", "limitation of treatment",
                    "treatment limitation", "limitation of life-sustaining", "comfort care only")
DIRECTIVE_WORDS = ("directives anticipées", "directives anticipees", "advance directive",
                   "living will")
PROXY_WORDS = ("personne de confiance", "power of attorney", "healthcare proxy")
ADVANCE_CARE = {"adr", "acd", "dnr", "polst"}  # consent scope and category codes
# the act a provision is about: resuscitation itself (SNOMED CT 89666000, CPR), or its words
RESUSCITATION_CODES = {"89666000"}
ACTS = {"89666000": "réanimation cardio-pulmonaire", "304253006": "non-réanimation",
        "439569004": "non-réanimation"}  # the words of a provision's known codes
RESUSCITATION_WORDS = ("réanimation", "reanimation", "resuscitation", "cpr", "rcp",
                       "massage cardiaque", "intubation")
INACTIVE_DOCUMENTS = ("superseded", "entered-in-error")


@dataclass
class Directive:
    """One code-status fact, in words, with where it was read and since when."""

    kind: str  # one of KINDS
    text: str  # LABELS[kind]
    detail: str  # what the record says in its own words (provision, flag text, title)
    since: str | None
    source: str  # "Consentement", "Alerte", "Document"
    document: str = ""  # the DocumentReference's id, to open it


def _words_kind(words: str) -> str | None:
    for kind, vocabulary in ((LIMITATION, LIMITATION_WORDS), (DNR, alerts.DNR_WORDS),
                             (DIRECTIVE, DIRECTIVE_WORDS), (PROXY, PROXY_WORDS)):
        if says(words, vocabulary):
            return kind
    return None


def _in_force(end: str | None, now: dt.datetime, zone: ZoneInfo) -> bool:
    ended = end_instant(end, zone)
    return ended is None or ended > now


def consent(resource: dict, now: dt.datetime, zone: ZoneInfo) -> Directive | None:
    """An active Consent that is a code status or an advance directive."""
    if resource.get("status") not in ("active", None):
        return None
    provision = as_dict(resource.get("provision"))
    if not _in_force(period(provision.get("period"))[1], now, zone):
        return None
    categories = set().union(*(codes(c) for c in as_list(resource.get("category")))) \
        if resource.get("category") else set()
    scope = codes(resource.get("scope"))
    provided = [concept_words(c) for c in as_list(provision.get("code")) + as_list(provision.get("action"))]
    provided += [concept_words(as_dict(p).get("code") or as_list(as_dict(p).get("action")))
                 for p in as_list(provision.get("provision"))]
    acts = set().union(*(codes(c) for c in as_list(provision.get("code"))))
    provided += [ACTS[c] for c in sorted(acts) if c in ACTS and not any(provided)]
    said = ", ".join(dict.fromkeys(p for p in provided if p))
    kind = _consent_kind(as_text(provision.get("type")), said, categories | scope, acts,
                         concept_words(as_list(resource.get("category"))))
    if kind is None:
        return None
    decision = PROVISION.get(as_text(provision.get("type")), "")
    detail = " : ".join(p for p in (decision, said) if p)
    return Directive(kind, LABELS[kind], detail, effective(resource, "dateTime"),
                     SOURCES["Consent"])


def _consent_kind(decision: str, said: str, categories: set[str], acts: set[str],
                  category_words: str) -> str | None:
    """What a Consent records. Its provision decides first: resuscitation refused is
    do-not-resuscitate, accepted is a directive (never DNR); a do-not-resuscitate order or
    a limitation accepted is that, refused is a directive. Then its category and words."""
    deny = decision == "deny"
    advance = bool(categories & (ADVANCE_CARE | set(DOCUMENT_KINDS))) or \
        _words_kind(category_words) is not None
    if acts & RESUSCITATION_CODES or says(said, RESUSCITATION_WORDS) and not says(said, alerts.DNR_WORDS):
        # resuscitation refused, whatever the consent's scope; accepted, only as a directive
        return DNR if deny else DIRECTIVE if advance else None
    if acts & alerts.DNR_CODES or says(said, alerts.DNR_WORDS):
        return DIRECTIVE if deny else DNR
    if says(said, LIMITATION_WORDS):
        return DIRECTIVE if deny else LIMITATION
    if "dnr" in categories:
        return DNR
    if "polst" in categories or "93037-0" in categories:
        return POLST
    found = _words_kind(category_words)
    if found is not None:
        return found
    return DIRECTIVE if advance else None


def flag(resource: dict, now: dt.datetime, zone: ZoneInfo) -> Directive | None:
    """A Flag in force saying do-not-resuscitate or a limitation of active treatment."""
    if not alerts.flag_active(resource, now, zone):
        return None
    words = concept_words(resource.get("code"))
    kind = DNR if alerts.flag_kind(resource) == alerts.DNR else \
        LIMITATION if says(words, LIMITATION_WORDS) else None
    if kind is None:
        return None
    return Directive(kind, LABELS[kind], words if words.casefold() != LABELS[kind].casefold() else "",
                     period(resource.get("period"))[0], SOURCES["Flag"])


def document(resource: dict) -> Directive | None:
    """A current DocumentReference whose type is an advance directive."""
    if resource.get("status") in INACTIVE_DOCUMENTS or resource.get("docStatus") == "entered-in-error":
        return None
    kinds = [DOCUMENT_KINDS[c] for c in sorted(codes(resource.get("type"))) if c in DOCUMENT_KINDS]
    for category in as_list(resource.get("category")):
        kinds += [DOCUMENT_KINDS[c] for c in sorted(codes(category)) if c in DOCUMENT_KINDS]
    words = concept_words(resource.get("type")) or concept_text(as_list(resource.get("category")))
    kind = kinds[0] if kinds else _words_kind(" ".join([words, as_text(resource.get("description"))]))
    if kind is None:
        return None
    attachments = [as_dict(as_dict(c).get("attachment")) for c in as_list(resource.get("content"))]
    title = next((as_text(a.get("title")) for a in attachments if as_text(a.get("title"))), "")
    detail = title or as_text(resource.get("description")) or (words if words != LABELS[kind] else "")
    since = effective(resource, "date") or next(
        (as_text(a.get("creation")) for a in attachments if as_text(a.get("creation"))), None)
    return Directive(kind, LABELS[kind], detail, since, SOURCES["DocumentReference"],
                     as_text(resource.get("id")))


def document_type(resource: dict) -> str:
    """The words of a document's type: its own, else the label of an advance-directive
    type, else "" (never a bare LOINC code)."""
    words = concept_words(resource.get("type"))
    if words:
        return words
    kinds = [DOCUMENT_KINDS[c] for c in sorted(codes(resource.get("type"))) if c in DOCUMENT_KINDS]
    return LABELS[kinds[0]] if kinds else ""


def read(rtype: str, resource: dict, now: dt.datetime, zone: ZoneInfo) -> Directive | None:
    """The code status one resource of any type records, if it records one: what the
    census reads of a ward's Consents, Flags and DocumentReferences."""
    if rtype == "Consent":
        return consent(resource, now, zone)
    if rtype == "Flag":
        return flag(resource, now, zone)
    if rtype == "DocumentReference":
        return document(resource)
    return None


def at_a_glance(found: list[Directive]) -> list[Directive]:
    """What a census row, a MAR header and a printed summary's alerts show: do-not-
    resuscitate and limitation of care, each kind once, whichever record said it."""
    firsts: dict[str, Directive] = {}
    for directive in ordered(found):
        if directive.kind in GLANCE:
            firsts.setdefault(directive.kind, directive)
    return list(firsts.values())


def ordered(found: list[Directive]) -> list[Directive]:
    """Do-not-resuscitate first, then limitation, orders, directives, proxies."""
    return sorted(found, key=lambda d: KINDS.index(d.kind))
