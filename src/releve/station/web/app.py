"""The station's web app: `create_app(station_dir)` and `serve(station_dir, host, port)`.

Stable URLs (scripts, checks and the crisis cell rely on them):
  GET/POST /login, POST /logout, / (to /wards), /wards, /wards/{Location id} (and POST
  /wards/{Location id}/break-glass, web/access.py),
  /patients?q=TEXT, /patients/{Patient id} (the summary, from web/patient.py),
  /directory?q=TEXT, /or?date=YYYY-MM-DD, /audit (admins), /static/..., /health,
  /status.json (the banners, polled by open pages: web/live.py),
  and the printouts as PDF (web/printouts.py: .../print/*.pdf, /forms/blank.pdf), the
  ward binder made in the background (web/binder.py: /wards/{ward}/print/binder...).

No patient data in logs (invariant 7): uvicorn's access log is off, since a URL such as
/patients?q=DUPONT carries a name, and the app logs one line per request with the method,
the route's *template* (/wards/{ward}, never the id), the status and the duration. An
unexpected error is logged by its type and code location only: an exception's message
may quote the data it choked on.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlencode

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from ... import clock, logs, serving
from ...journal.roles import may_record
from ...serving import Limits
from . import (
    access,
    binder,
    fhir_api,
    live,
    pages,
    patient,
    peers,
    printouts,
    rec_administrations,
    rec_movements,
    rec_observations,
    rec_orders,
)
from .base import STATIC, Station, render
from .guard import HttpMiddleware, SameOriginPostMiddleware, SecurityHeadersMiddleware, allowed_hosts
from .recording import csrf_token
from .signin import SignInMiddleware, login, logout

log = logging.getLogger("releve.station.web")

ROLE_LABELS = {"nurse": "Infirmier·ère", "physician": "Médecin", "pharmacist": "Pharmacien·ne",
               "secretary": "Secrétaire", "admin": "Administrateur·rice",
               "crisis": "Cellule de crise"}

# (title, message) of each error page; `detail` of the HTTPException picks a variant
ERRORS = {
    (400, None): ("Requête invalide", "La page demandée n'est pas valide."),
    (400, "date"): ("Date invalide",
                    "Cette date n'est pas valide. Choisissez un jour au format AAAA-MM-JJ."),
    (404, None): ("Page introuvable",
                  "Cette page n'existe pas sur la station. Vérifiez l'adresse, ou repartez de la liste des services."),
    (404, "ward"): ("Service introuvable",
                    "Ce service n'existe pas dans les données de la station."),
    (403, None): ("Accès réservé",
                  "Cette page est réservée aux administrateurs de la station."),
    (403, "role"): ("Saisie non autorisée",
                    "Votre fonction ne permet pas cette saisie (par exemple, seuls les médecins "
                    "prescrivent et seuls les pharmaciens valident une prescription). Rien n'a "
                    "été enregistré."),
    (403, "csrf"): ("Formulaire expiré",
                    "Ce formulaire n'est plus valable (session changée ou page trop ancienne). "
                    "Rien n'a été enregistré : rouvrez la page et saisissez à nouveau."),
    (503, "nodata"): ("Pas encore de données",
                      "Cette station n'a encore reçu aucune donnée du coffre. Elle sera utilisable "
                      "après sa première synchronisation (commande : releve station sync). "
                      "Prévenez l'informatique si ce message reste affiché."),
    (503, None): ("Service indisponible", "Cette page est momentanément indisponible."),
    (500, None): ("Erreur de la station",
                  "La page n'a pas pu être affichée. Réessayez ; si l'erreur persiste, prévenez "
                  "l'informatique en indiquant l'heure."),
}


# --- the app -----------------------------------------------------------------------------------


def create_app(station_dir: Path, hosts: Iterable[str] | None = None) -> Starlette:
    """The app for one station folder (which may not hold any data yet), answering to
    the Host names `hosts` (default: loopback only; see guard.allowed_hosts)."""
    here = Station(Path(station_dir))
    install_globals(here)
    app = Starlette(routes=routes(), middleware=[
        Middleware(SecurityHeadersMiddleware),  # outermost: on the error pages of the next one too
        Middleware(RequestLogMiddleware),
        Middleware(TrustedHostMiddleware, allowed_hosts=list(hosts or allowed_hosts("127.0.0.1")),
                   www_redirect=False),
        Middleware(SameOriginPostMiddleware),
        Middleware(SignInMiddleware),
    ], exception_handlers={HTTPException: http_error})
    app.state.station = here
    return app


def install_globals(here: Station) -> None:
    """What the templates call besides a page's context, in one place: the app installs
    them, and so does anything else that renders the station's pages (the tests' small
    apps), or a template meets an undefined name."""
    here.env.globals.update(lang_url=lang_url, now_text=now_text, role_label=role_label,
                            csrf_token=csrf_token, rec_obs=rec_observations.page_data,
                            may_record=may_record, noted_administration=rec_administrations.noted)
    rec_orders.install(here.env)


def routes() -> list[BaseRoute]:
    return [
        Route("/", pages.home),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/health", pages.health),
        *live.routes,
        Route("/wards", pages.wards),
        Route("/wards/{ward}", pages.ward),
        Route("/wards/{ward}/break-glass", access.ward_break_glass, methods=["POST"]),
        Route("/patients", pages.patients),
        *patient.routes,
        Route("/directory", pages.directory),
        Route("/or", pages.operating_rooms),
        Route("/audit", pages.audit_log),
        *printouts.routes,
        *binder.routes,
        *rec_administrations.routes,
        *rec_observations.routes,
        *rec_movements.routes,
        *rec_orders.routes,
        *peers.routes,
        *fhir_api.routes,
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


# --- template helpers -----------------------------------------------------------------------


def lang_url(request: Request, lang: str) -> str:
    """This page in another language: same path and query, `lang` replaced."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return request.url.path + "?" + urlencode([*query, ("lang", lang)])


def now_text(zone: str) -> str:
    """When the page was made, for the printed copy ('02/12/2026 14:03')."""
    return clock.now_in(zone).strftime("%d/%m/%Y %H:%M")


def role_label(role: str) -> str:
    return ROLE_LABELS.get(role, role)


# --- errors ------------------------------------------------------------------------------------


async def http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else None
    return error_page(request, status, detail)


def error_page(request: Request, status: int, detail: str | None = None) -> Response:
    """The error as a page a nurse can act on; plain HTML if even that cannot render."""
    title, message = ERRORS.get((status, detail)) or ERRORS.get((status, None)) or (
        "Erreur", "La page n'a pas pu être affichée.")
    try:
        return render(request, "error.html", status_code=status, status=status, title=title,
                      message=message)
    except Exception as exc:  # the index itself may be what fails
        log.error("error page %s could not render: %s", status, type(exc).__name__)
        return HTMLResponse(f"<!doctype html><meta charset=utf-8><title>{title}</title>"
                            f"<h1>{title}</h1><p>{message}</p>", status_code=status)


class RequestLogMiddleware(HttpMiddleware):
    """One log line per request, with no query string and no id; errors become a page."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = {"code": 500, "sent": False}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["sent"] = message["status"], True
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            log.error("%s %s failed: %s at %s", scope["method"], route_template(scope),
                      type(exc).__name__, where(exc))
            if not status["sent"]:
                await error_page(Request(scope), 500)(scope, receive, sending)
        log.info("%s %s %s %.1f ms", scope["method"], route_template(scope), status["code"],
                 (time.perf_counter() - started) * 1000)


def route_template(scope: Scope) -> str:
    """The matched route's path template (/wards/{ward}), or '-' for no route."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(route, Mount):
        return f"{path}/..."
    return path or "-"


def where(exc: BaseException) -> str:
    """file:line of the innermost frames, without the message (which may hold data)."""
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    return " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames))


# --- serving -----------------------------------------------------------------------------------


def server_config(station_dir: Path, host: str = "127.0.0.1", port: int = 8000,
                  limits: Limits = serving.DEFAULT, *, extra_hosts: Iterable[str] = (),
                  tls_cert: Path | None = None, tls_key: Path | None = None) -> uvicorn.Config:
    """uvicorn as the station runs it: no access log (URLs carry names), warnings only,
    in the form of Relève's logs (logs.py);
    slow clients cut and connections capped by `limits` (releve/serving.py); HTTPS when
    given a certificate and its key; answering to the names of
    guard.allowed_hosts(host, extra_hosts)."""
    app = create_app(Path(station_dir), allowed_hosts(host, extra_hosts))
    return serving.server_config(app, host, port, limits, **logs.uvicorn_options(),
                                 server_header=False, proxy_headers=False,
                                 ssl_certfile=str(tls_cert) if tls_cert else None,
                                 ssl_keyfile=str(tls_key) if tls_key else None)


def serve(station_dir: Path, host: str = "127.0.0.1", port: int = 8000,
          limits: Limits = serving.DEFAULT, *, extra_hosts: Iterable[str] = (),
          tls_cert: Path | None = None, tls_key: Path | None = None) -> None:
    """Run the station's web app until Ctrl-C."""
    config = server_config(station_dir, host, port, limits, extra_hosts=extra_hosts,
                           tls_cert=tls_cert, tls_key=tls_key)
    logs.configure()
    log.info("station web app on %s", f"{'https' if tls_cert else 'http'}://{host}:{port}/")
    uvicorn.Server(config).run()
