"""The patient summary page and the documents it links to.

    /patients/{pid}                   the summary (templates/web/patient.html), audited
    /patients/{pid}/documents/{did}   one document's attachment, audited
    /patients/{pid}/break-glass       POST: the reason to open a patient outside one's
                                      wards (web/access.py)

Documents come from the HIS and are served as inert as possible: plain text as
text/plain, PDF inline, anything else (HTML included) as a download, never sniffed, never
cached, under a Content-Security-Policy that runs no script. A station is offline, so an
attachment that only points to a URL is shown as that URL, never fetched.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from urllib.parse import quote

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ... import clock
from ...fhir.clinical.values import as_dict, as_list, as_text
from ..views import resources
from ..views.formats import number_filter
from ..views.summary import CRITICALITY, ORDER_STATUS, summary
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
    found = summary(conn, pid, clock.now(), zone)
    if found is None:
        return _error(request, 404, *NOT_FOUND)
    if not access.may_open(request, pid):
        return access.ask_reason(request, pid)
    audit(request, "view", "summary", patient=pid)
    return render(request, "patient.html", s=found, num=number_filter(language(request)),
                  crit=CRITICALITY, order_status=ORDER_STATUS,
                  patient_name=found.identity.name)


# --- documents ---------------------------------------------------------------------------------


def _attachments(resource: dict, kind: str) -> list[dict]:
    if kind == "DiagnosticReport":
        return [a for a in as_list(resource.get("presentedForm")) if isinstance(a, dict)]
    return [as_dict(as_dict(c).get("attachment")) for c in as_list(resource.get("content"))]


def _find(conn, pid: str, did: str) -> tuple[dict, str] | None:
    for kind in ("DocumentReference", "DiagnosticReport"):
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
            "Content-Security-Policy": csp, "Referrer-Policy": "no-referrer"}


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
    attachments = _attachments(resource, kind)
    attachment = next((a for a in attachments if a.get("data")),
                      next((a for a in attachments if a.get("url")), None))
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


routes = [Route("/patients/{pid}", patient_page),
          Route("/patients/{pid}/break-glass", access.break_glass, methods=["POST"]),
          Route("/patients/{pid}/documents/{did}", document)]
