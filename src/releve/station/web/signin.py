"""Signing in and out, and the middleware that keeps every page behind a session.

A ward PC is shared: sessions are short (the station's idle_minutes), the cookie is
HttpOnly and SameSite=Strict (no other site can make the browser post a form here, so
the forms need no separate CSRF token), and it lives only as long as the browser.
Failed logins are audited with the name typed, never the password; a "name" that does
not look like a user name (a password typed in the wrong field) is not written either.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..local.accounts import NAME_PATTERN
from .base import current_user, render, station

COOKIE = "releve_session"
PUBLIC_PATHS = ("/login", "/health")
PUBLIC_PREFIXES = ("/static/",)
HOME = "/wards"


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this station only (no open redirect)."""
    if (not target or not target.startswith("/") or target.startswith(("//", "/\\"))
            or target.startswith("/login")):
        return HOME
    return target


def login_url(request: Request, expired: bool = False) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = "/login" if here in ("/", HOME) else f"/login?next={quote(here, safe='')}"
    if expired:
        url += ("&" if "?" in url else "?") + "expired=1"
    return url


class SignInMiddleware:
    """Puts the session's user in request.state.user; sends anyone else to /login."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        token = request.cookies.get(COOKIE)
        user = await run_in_threadpool(session_user, request, token) if token else None
        scope.setdefault("state", {})["user"] = user
        if user is None and not is_public(request.url.path):
            response = RedirectResponse(login_url(request, expired=bool(token)), status_code=303)
            if token:
                response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def session_user(request: Request, token: str):
    """The token's user under the idle timeout the station's settings say now."""
    here = station(request)
    here.accounts.idle_timeout = max(here.settings().idle_minutes, 0) * 60
    return here.accounts.session_user(token)


# --- pages -------------------------------------------------------------------------------------


def login_page(request: Request, status_code: int = 200, failed: bool = False,
               username: str = "", target: str | None = None) -> Response:
    return render(request, "login.html", status_code=status_code, failed=failed,
                  username=username, next=safe_next(target or request.query_params.get("next")),
                  expired=request.query_params.get("expired") == "1",
                  has_users=station(request).accounts.has_users())


async def login(request: Request) -> Response:
    """GET: the form (or straight on, if signed in). POST: check, open a session, go on."""
    if request.method == "GET":
        if getattr(request.state, "user", None) is not None:
            return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
        return await run_in_threadpool(login_page, request)
    form = await request.form()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    target = safe_next(str(form.get("next", "")))
    here = station(request)
    user = await run_in_threadpool(here.accounts.authenticate, username, password) \
        if username and password else None
    if user is None:
        shown = username if NAME_PATTERN.fullmatch(username) else "(nom invalide)"
        await run_in_threadpool(here.audit.record, shown, "login-failed", "login")
        return await run_in_threadpool(login_page, request, 401, True,
                                       username if NAME_PATTERN.fullmatch(username) else "",
                                       target)
    token = await run_in_threadpool(here.accounts.open_session, user)
    await run_in_threadpool(here.audit.record, user.name, "login", "login")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, token, path="/", httponly=True, samesite="strict")
    return response


async def logout(request: Request) -> Response:
    here = station(request)
    token = request.cookies.get(COOKIE)
    if token:
        await run_in_threadpool(here.accounts.close_session, token)
    await run_in_threadpool(here.audit.record, current_user(request).name, "logout", "logout")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
