"""Requests under /peer/ and /fhir/: a bearer token (local/tokens.py), not a session.

A peer station and a bedside device have no cookie to show: they send
`Authorization: Bearer T`. No token, or one the station does not know: 401. A known
token stands for an account of its role, named `token:NAME`, so that the audit, the
roles' table and a recorded entry's author say which device or station it was; each
use is in the audit log. An endpoint that a role may not use answers 403 (`refuse`).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Send

from ..local.accounts import User
from .base import station
from .guard import BEARER_PREFIXES, bearer_token

PREFIXES = BEARER_PREFIXES
AUDIT_ACTION = "token"


async def authenticate(request: Request, app: ASGIApp, receive: Receive, send: Send) -> None:
    """Let the request on as the token's holder, or answer 401 (each use audited)."""
    token = bearer_token(request.headers)
    user = await run_in_threadpool(_holder, request, token) if token else None
    if user is None:
        response = JSONResponse({"error": "a valid bearer token is required"}, status_code=401,
                                headers={"WWW-Authenticate": 'Bearer realm="releve"'})
        await response(request.scope, receive, send)
        return
    request.scope.setdefault("state", {})["user"] = user
    await app(request.scope, receive, send)


def _holder(request: Request, token: str) -> User | None:
    """The token's pseudo-account, its use recorded in the audit log. An unknown token is
    not: whoever sends one could fill the append-only log, as the login throttle keeps
    the login form from doing (signin.py)."""
    here = station(request)
    holder = here.tokens.holder(token)
    if holder is None:
        return None
    user = User(name=f"token:{holder.name}", role=holder.role, display_name=holder.name,
                disabled=False, created=holder.created)
    here.audit.record(user.name, AUDIT_ACTION, request.url.path, detail=request.method)
    return user


def refuse(request: Request, *roles: str) -> JSONResponse | None:
    """403 when the token's role is not one of `roles`, else None."""
    role = request.state.user.role
    if role in roles:
        return None
    return JSONResponse({"error": f"a {role} token may not use this endpoint"}, status_code=403)
