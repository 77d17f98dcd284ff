"""Requests under /peer/ and /fhir/: a bearer token (local/tokens.py), not a session.

A peer station and a bedside device have no cookie to show: they send
`Authorization: Bearer T`. No token, or one the station does not know: 401. A known
token stands for an account of its role, named `token:NAME`, so that the audit, the
roles' table and a recorded entry's author say which device or station it was; each
use is in the audit log once. A peer's pull is audited here; a /fhir/ read or write is
audited by its handler, as the forms' are (one row per write, not two), and here only
when it was refused (4xx/5xx: no handler audited it). An endpoint that a role may not
use answers 403 (`refuse`).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Send

from ..local.accounts import User
from .base import station
from .guard import BEARER_PREFIXES, bearer_token

PREFIXES = BEARER_PREFIXES
AUDIT_ACTION = "token"
AUDITED_BY_HANDLER = "/fhir/"  # fhir_api.py audits each read and write it answers


async def authenticate(request: Request, app: ASGIApp, receive: Receive, send: Send) -> None:
    """Let the request on as the token's holder, or answer 401 (each use audited once)."""
    token = bearer_token(request.headers)
    user = await run_in_threadpool(_holder, request, token) if token else None
    if user is None:
        response = JSONResponse({"error": "a valid bearer token is required"}, status_code=401,
                                headers={"WWW-Authenticate": 'Bearer realm="releve"'})
        await response(request.scope, receive, send)
        return
    request.scope.setdefault("state", {})["user"] = user
    if not request.url.path.startswith(AUDITED_BY_HANDLER):
        await run_in_threadpool(_audit, request, user)
        await app(request.scope, receive, send)
        return

    async def send_audited(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] >= 400:
            await run_in_threadpool(_audit, request, user, message["status"])
        await send(message)

    await app(request.scope, receive, send_audited)


def _holder(request: Request, token: str) -> User | None:
    """The token's pseudo-account. An unknown token is not audited: whoever sends one
    could fill the append-only log, as the login throttle keeps the login form from
    doing (signin.py)."""
    holder = station(request).tokens.holder(token)
    if holder is None:
        return None
    return User(name=f"token:{holder.name}", role=holder.role, display_name=holder.name,
                disabled=False, created=holder.created)


def _audit(request: Request, user: User, status: int | None = None) -> None:
    detail = request.method if status is None else f"{request.method} {status}"
    station(request).audit.record(user.name, AUDIT_ACTION, request.url.path, detail=detail)


def refuse(request: Request, *roles: str) -> JSONResponse | None:
    """403 when the token's role is not one of `roles`, else None."""
    role = request.state.user.role
    if role in roles:
        return None
    return JSONResponse({"error": f"a {role} token may not use this endpoint"}, status_code=403)
