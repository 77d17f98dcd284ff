"""The patient summary page and the documents it links to.

    /patients/{pid}                   the summary (templates/web/patient.html), audited
    /patients/{pid}/documents/{did}   one document's attachment, audited
    /patients/{pid}/documents/{did}/view  the same inside the station's frame (patient
                                      banner, back link): a PDF in an <iframe> of the
                                      route above, text escaped in the page, audited
    /patients/{pid}/break-glass       POST: the reason to open a patient outside one's
                                      wards (web/access.py)

Documents come from the HIS and are served as inert as possible: plain text as
text/plain, PDF inline, anything else (HTML included) as a download, never sniffed, never
cached, under a Content-Security-Policy that runs no script. A station is offline, so an
attachment that only points to a URL is shown as that URL, never fetched, unless the URL
names a Binary the station holds (`Binary/id`, as many HIS store their documents). A
Binary of the patient that no document names opens the same way, by its own id.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ... import clock
from ...fhir.clinical.values import as_dict, as_list, as_text
from ...fhir.refs import target
from ..recorded import recorded_for
from ..views import resources
from ..views.formats import age_text, number_filter, parse_date, shown_instant
from ..views.summary import CRITICALITY, ORDER_STATUS, summary
from ..views.summary.observations import SHOWN_VALUES
from . import access
from .base import audit, db, language, render, station

DOCUMENT_CSP = ("default-src 'none'; script-src 'none'; object-src 'none'; base-uri 'none'; "
                "form-action 'none'; frame-ancestors 'self'")
SANDBOXED_CSP = DOCUMENT_CSP + "; sandbox"  # not for PDFs: browsers refuse to show them sandboxed
NOT_FOUND = ("Dossier introuvable",
             "Aucun patient de ce numéro dans les données de la station. Repartez de la recherche "
             "ou de la liste des services.")
NO_DOCUMENT = ("Document introuvable", "Ce document n'existe pas dans le dossier de ce patient.")
NO_DATA = ("Pas encore de données",
           "Cette station n'a encore reçu aucune donnée du coffre. Elle sera utilisable après sa "
           "première synchronisation (commande : releve station sync).")


def _error(request: Request, status: int, title: str, message: str) -> Response:
    """The station's error page; a plain one if error.html is absent or cannot render."""
    try:
        return render(request, "error.html", status_code=status, status=status, title=title,
                      message=message)
    except (jinja2.TemplateNotFound, jinja2.UndefinedError):
        return HTMLResponse(f"<!doctype html><meta charset=utf-8><title>{title}</title>"
                            f"<h1>{title}</h1><p>{message}</p>", status_code=status)


def patient_page(request: Request) -> Response:
    pid = request.path_params["pid"]
    conn = db(request)
    if conn is None:
        return _error(request, 503, *NO_DATA)
    zone = station(request).settings().timezone
    found = summary(conn, pid, clock.now(), zone,
                    recorded_for(station(request).journal, pid))
    if found is None:
        return _error(request, 404, *NOT_FOUND)
    if not access.may_open(request, pid):
        return access.ask_reason(request, pid)
    audit(request, "view", "summary", patient=pid)
    return render(request, "patient.html", s=found, num=number_filter(language(request)),
                  crit=CRITICALITY, order_status=ORDER_STATUS, shown_values=SHOWN_VALUES,
                  patient_name=found.identity.name,
                  death_age=death_age(found.identity.birth_date, found.identity.deceased, zone,
                                      language(request)))


def death_age(birth: str | None, deceased: str | None, zone: str, lang: str) -> str:
    """'82 ans': the age on the day of death (in the station's zone), '' if either date
    is unknown or partial."""
    if not deceased:
        return ""
    when = shown_instant(deceased, zone)
    day = when.astimezone(ZoneInfo(zone)).date() if when else parse_date(deceased) \
        if len(deceased) == 10 else None
    return age_text(birth, today=day, lang=lang, zone=zone) if day else ""


# --- documents ---------------------------------------------------------------------------------


def _attachments(resource: dict, kind: str) -> list[dict]:
    if kind == "Binary":  # a file of the patient no document names: its own content
        return [{"data": resource.get("data"), "contentType": resource.get("contentType")}]
    if kind == "DiagnosticReport":
        return [a for a in as_list(resource.get("presentedForm")) if isinstance(a, dict)]
    return [as_dict(as_dict(c).get("attachment")) for c in as_list(resource.get("content"))]


def _binary(conn, attachment: dict) -> dict:
    """An attachment whose URL names a Binary the index holds, read as that Binary's
    content; any other attachment as it is."""
    found = target(as_text(attachment.get("url"))) if not attachment.get("data") else None
    binary = resources.resource(conn, "Binary", found[1]) if found and found[0] == "Binary" else None
    if binary is None or not isinstance(binary.get("data"), str):
        return attachment
    return {**attachment, "data": binary["data"],
            "contentType": as_text(binary.get("contentType")) or as_text(attachment.get("contentType"))}


def _attachment(conn, resource: dict, kind: str) -> dict | None:
    """The attachment a document shows: one with its content, else one with a URL."""
    attachments = [_binary(conn, a) for a in _attachments(resource, kind)]
    return next((a for a in attachments if a.get("data")),
                next((a for a in attachments if a.get("url")), None))


def _find(conn, pid: str, did: str) -> tuple[dict, str] | None:
    for kind in ("DocumentReference", "DiagnosticReport", "Binary"):
        found = resources.resource(conn, kind, did, patient=pid)
        if found is not None:
            return found, kind
    return None


def safe_filename(title: str, extension: str) -> str:
    """ASCII letters, digits, dots, dashes: nothing a header or a file system can trip on."""
    bare = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    bare = re.sub(r"\.{2,}", ".", re.sub(r"[^A-Za-z0-9._-]+", "_", bare)).strip("._")[:80] or "document"
    return f"{bare}.{extension}"


def _headers(disposition: str, filename: str, csp: str) -> dict[str, str]:
    return {"Content-Disposition": f"{disposition}; filename=\"{filename}\"; "
                                   f"filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": csp, "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "SAMEORIGIN"}  # framed by the station's document page alone


def _text(data: bytes, content_type: str) -> bytes:
    """Plain text re-encoded as UTF-8 from the charset it declares (Latin-1 if it lies)."""
    match = re.search(r"charset=([A-Za-z0-9._-]+)", content_type, re.I)
    charset = match[1] if match else "utf-8"
    try:
        return data.decode(charset).encode()
    except (LookupError, UnicodeDecodeError):
        try:
            return data.decode("utf-8").encode()
        except UnicodeDecodeError:
            return data.decode("latin-1").encode()


def document(request: Request) -> Response:
    pid, did = request.path_params["pid"], request.path_params["did"]
    conn = db(request)
    if conn is None:
        return _error(request, 503, *NO_DATA)
    found = _find(conn, pid, did)
    if found is None:
        return _error(request, 404, *NO_DOCUMENT)
    resource, kind = found
    attachment = _attachment(conn, resource, kind)
    if attachment is None:
        return _error(request, 404, *NO_DOCUMENT)
    if not access.may_open(request, pid):
        return access.ask_reason(request, pid)
    audit(request, "view", "document", patient=pid, detail=did)
    title = as_text(attachment.get("title")) or as_text(resource.get("description")) or did
    content_type = as_text(attachment.get("contentType")).lower()
    main_type = content_type.split(";")[0].strip()
    data = attachment.get("data")
    if not isinstance(data, str) or not data:
        url = as_text(attachment.get("url"))
        body = (f"{title}\n\nCe document n'est pas enregistré sur la station ; il est à l'adresse :\n"
                f"{url}\n(adresse consultable seulement quand le système d'information est "
                f"disponible)\n").encode()
        return Response(body, media_type="text/plain; charset=utf-8",
                        headers=_headers("inline", safe_filename(title, "txt"), SANDBOXED_CSP))
    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        return _error(request, 404, *NO_DOCUMENT)
    if main_type == "text/plain":
        return Response(_text(raw, content_type), media_type="text/plain; charset=utf-8",
                        headers=_headers("inline", safe_filename(title, "txt"), SANDBOXED_CSP))
    if main_type == "application/pdf":
        return Response(raw, media_type="application/pdf",
                        headers=_headers("inline", safe_filename(title, "pdf"), DOCUMENT_CSP))
    return Response(raw, media_type="application/octet-stream",
                    headers=_headers("attachment", safe_filename(title, "bin"), SANDBOXED_CSP))


def document_page(request: Request) -> Response:
    """A document inside the station's frame: who it belongs to, the way back, and the
    document itself (a PDF framed from the route above, text escaped into the page)."""
    pid, did = request.path_params["pid"], request.path_params["did"]
    conn = db(request)
    if conn is None:
        return _error(request, 503, *NO_DATA)
    zone = station(request).settings().timezone
    found = _find(conn, pid, did)
    patient = summary(conn, pid, clock.now(), zone) if found else None
    attachment = _attachment(conn, *found) if found else None
    if patient is None or attachment is None or found is None:
        return _error(request, 404, *NO_DOCUMENT)
    if not access.may_open(request, pid):
        return access.ask_reason(request, pid)
    audit(request, "view", "document", patient=pid, detail=did)
    listed = next((d for d in patient.documents if d.id == did), None)
    main_type = as_text(attachment.get("contentType")).lower().split(";")[0].strip()
    data = attachment.get("data")
    text = None
    if isinstance(data, str) and data and main_type == "text/plain":
        try:
            raw = base64.b64decode(data, validate=False)
        except (binascii.Error, ValueError):
            raw = b""
        text = _text(raw, as_text(attachment.get("contentType"))).decode()
    kind = "text" if text is not None else "pdf" if main_type == "application/pdf" and data else \
        "url" if not data else "file"
    return render(request, "patient_document.html", s=patient, doc=listed, kind=kind, text=text,
                  url=as_text(attachment.get("url")), content_type=main_type,
                  title=as_text(attachment.get("title")) or (listed.title if listed else did),
                  source=f"/patients/{quote(pid, safe='')}/documents/{quote(did, safe='')}",
                  patient_name=patient.identity.name)


routes = [Route("/patients/{pid}", patient_page),
          Route("/patients/{pid}/break-glass", access.break_glass, methods=["POST"]),
          Route("/patients/{pid}/documents/{did}", document),
          Route("/patients/{pid}/documents/{did}/view", document_page)]
