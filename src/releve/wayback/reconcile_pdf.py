"""The reconcile report on paper, for the crisis cell: `write(report, path)`.

The JSON report (wayback/reconcile_report.py, schema in docs/way-back.md) says what
became of every downtime entry. The cell reads it on A4, in French: which run, against
which server; how many entries per state; the patients admitted during the downtime
whose identity a person must still confirm (nothing about them is filed until then);
then every entry not done, with the server's reason; then, compactly, the entries done.

The printout follows the station's (station/printing): WeasyPrint, Debian's DejaVu
fonts, nothing fetched (the URL fetcher allows `data:` only, so no text of the report can
make the renderer reach out). The way back does not import the station: the template and
its few styles are its own, in wayback/templates/. Times are shown in UTC unless a zone
is given, since the report carries none.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from ..files import write_atomic
from ..journal.fates import DONE, STATES

TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE = "reconcile.html"

# each state in the cell's words, in STATES' order (journal/fates.py says what each means)
STATE_WORDS = {
    "filed": "créée dans le DPI",
    "already": "déjà dans le DPI",
    "updated": "mise à jour dans le DPI",
    "matched": "patient rapproché",
    "replaced": "version remplacée, historique reporté",
    "waiting-identity": "en attente : identité à confirmer",
    "waiting": "en attente d'une autre saisie",
    "refused": "refusée par le DPI",
    "failed": "échec d'envoi, à réessayer",
    "conflict": "corrections concurrentes à trancher",
}
PROPOSALS = {"match": "rapprocher de", "create": "créer dans le DPI"}
BASES = {"ins": "INS", "traits": "traits d'identité (nom, prénom, naissance, sexe)",
         "none": "aucun patient correspondant"}
ROLES = {"nurse": "infirmier·ère", "physician": "médecin", "pharmacist": "pharmacien·ne",
         "secretary": "secrétaire", "admin": "administrateur·rice", "peer": "station paire"}


# WeasyPrint lays out a few dozen table rows a second: 10,000 entries listed whole took
# 172 s and 1.3 GB here; 1,000 not done and 300 done, 35 s and 300 MB. The paper lists
# what a person acts on first, up to these, and counts every entry; the JSON report lists
# every one.
NOT_DONE_LISTED = 500
DONE_LISTED = 300


def write(report: dict, path: Path, zone: str | None = None) -> None:
    """The report as an A4 PDF at `path` (0600: it names patients), written whole or not
    at all. `zone`: the hospital's time zone for the times shown (UTC when None)."""
    write_atomic(Path(path), pdf(html(report, zone)))


def html(report: dict, zone: str | None = None) -> str:
    """The printout as HTML (what the PDF is made from)."""
    entries = report.get("entries") or []
    counts = report.get("counts") or {}
    order = {state: n for n, state in enumerate(STATES)}
    not_done = sorted((e for e in entries if e.get("state") not in DONE),
                      key=lambda e: order.get(e.get("state"), len(order)))
    done = [e for e in entries if e.get("state") in DONE]
    return _environment(zone).get_template(TEMPLATE).render(
        r=report,
        counts=[(state, counts[state]) for state in (*STATES, *sorted(set(counts) - set(STATES)))
                if counts.get(state)],
        total=sum(counts.values()),
        undecided=[i for i in report.get("identities") or [] if not i.get("decision")],
        decided=[i for i in report.get("identities") or [] if i.get("decision")],
        not_done=not_done[:NOT_DONE_LISTED], not_done_total=len(not_done),
        done=done[:DONE_LISTED], done_total=len(done), done_kinds=_per_kind(done),
        words=STATE_WORDS, proposals=PROPOSALS, bases=BASES)


def _per_kind(entries: list[dict]) -> list[tuple[str, str, int]]:
    """(kind, state, how many) of the entries, for the summary of those done."""
    found: dict[tuple[str, str], int] = {}
    for e in entries:
        key = (str(e.get("kind") or "—"), str(e.get("state")))
        found[key] = found.get(key, 0) + 1
    return [(kind, state, n) for (kind, state), n in sorted(found.items())]


def pdf(document: str) -> bytes:
    # imported here: every `releve` command imports the CLI, only reconcile prints
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols=("data",))
    return bytes(HTML(string=document, base_url=str(TEMPLATES), url_fetcher=fetcher).write_pdf())


def _environment(zone: str | None) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.ChainableUndefined)
    tz = ZoneInfo(zone) if zone else dt.UTC
    env.filters.update(when=lambda text: _when(text, tz), day=_day, author=_author)
    env.globals.update(zone=zone or "UTC")
    return env


def _when(text: Any, tz: dt.tzinfo) -> str:
    """'05/12/2026 14:03' from an ISO instant; what cannot be read is shown as it is."""
    if not text:
        return "—"
    try:
        moment = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return str(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(tz).strftime("%d/%m/%Y %H:%M")


def _day(text: Any) -> str:
    """'02/03/1950' from a FHIR date (a partial one is shown as it is)."""
    try:
        return dt.date.fromisoformat(str(text)).strftime("%d/%m/%Y")
    except ValueError:
        return str(text or "—")


def _author(author: Any) -> str:
    if not isinstance(author, dict):
        return str(author or "—")
    name = author.get("name") or author.get("user") or "—"
    role = author.get("role")
    return f"{name} ({ROLES.get(role, role)})" if role else str(name)
