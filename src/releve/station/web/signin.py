"""Signing in and out, and the middleware that keeps every page behind a session.

A ward PC is shared: sessions are short (the station's idle_minutes, and 12 hours at
most whatever the activity), the cookie is HttpOnly, SameSite=Strict, Secure when the
station serves HTTPS, and it lives only as long as the browser. Every POST must come
from the station's own pages besides (guard.py). Signing in always opens a new session
and ends the one the browser had, so a session id planted in a browser beforehand is
worth nothing.

Failed logins are audited with the name typed, never the password; a "name" that does
not look like a user name (a password typed in the wrong field) is not written either.
Repeated failures lock the name and the client address for a while (local/throttle.py);
the audit gets the first failure, the lock and the count of tries refused during it,
not one entry per try, so nobody can flood the append-only log from the login form.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from ..local.accounts import NAME_PATTERN
from ..local.throttle import LoginThrottle, Outcome
from . import bearer, live
from .access import WARDS, landing
from .base import current_user, render, station
from .guard import HttpMiddleware
from .recording import csrf_of

COOKIE = "releve_session"
PUBLIC_PATHS = ("/login", "/health", live.PATH)
PUBLIC_PREFIXES = ("/static/",)
HOME = WARDS  # where a sign-in goes by default: landing() picks the page


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


class SignInMiddleware(HttpMiddleware):
    """Puts the session's user in request.state.user; sends anyone else to /login."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        if request.url.path.startswith(bearer.PREFIXES):  # a token, never the cookie
            await bearer.authenticate(request, self.app, receive, send)
            return
        token = request.cookies.get(COOKIE)
        if request.url.path == live.PATH:  # polled by open pages: must not keep a session alive
            token = None
        user = await run_in_threadpool(session_user, request, token) if token else None
        scope.setdefault("state", {})["user"] = user
        if user is not None and token:
            scope["state"]["csrf"] = csrf_of(token)
        if user is None and not is_public(request.url.path):
            response = RedirectResponse(login_url(request, expired=bool(token)), status_code=303)
            if token:
                forget_cookie(request, response)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def session_user(request: Request, token: str):
    """The token's user under the idle timeout the station's settings say now."""
    here = station(request)
    here.accounts.idle_timeout = max(here.settings().idle_minutes, 0) * 60
    return here.accounts.session_user(token)


def secure(request: Request) -> bool:
    """Whether the browser reached the station over HTTPS: its cookies then say Secure."""
    return request.url.scheme == "https"


def forget_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict",
                           secure=secure(request))


# --- pages -------------------------------------------------------------------------------------


def login_page(request: Request, status_code: int = 200, failed: bool = False,
               username: str = "", target: str | None = None,
               locked_minutes: int | None = None) -> Response:
    return render(request, "login.html", status_code=status_code, failed=failed,
                  username=username, next=safe_next(target or request.query_params.get("next")),
                  expired=request.query_params.get("expired") == "1",
                  has_users=station(request).accounts.has_users(),
                  locked_minutes=locked_minutes)


async def login(request: Request) -> Response:
    """GET: the form (or straight on, if signed in). POST: check, open a session, go on."""
    if request.method == "GET":
        if getattr(request.state, "user", None) is not None:
            target = safe_next(request.query_params.get("next"))
            if target == HOME:  # reads the index: not on the event loop
                target = await run_in_threadpool(landing, request, request.state.user)
            return RedirectResponse(target, status_code=303)
        return await run_in_threadpool(login_page, request)
    form = await request.form()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    target = safe_next(str(form.get("next", "")))
    return await run_in_threadpool(sign_in, request, username, password, target)


def sign_in(request: Request, username: str, password: str, target: str) -> Response:
    """Refuse while locked; else check the password, count a failure or open a session."""
    here = station(request)
    valid_name = NAME_PATTERN.fullmatch(username) is not None
    shown = username if valid_name else "(nom invalide)"
    keys = LoginThrottle.keys(username if valid_name else "-", client_address(request))
    wait = here.throttle.locked_for(keys)
    if wait:
        return login_page(request, 429, username=username if valid_name else "", target=target,
                          locked_minutes=minutes(wait))
    user = here.accounts.authenticate(username, password) if username and password else None
    if user is None:
        outcome = here.throttle.failed(keys)
        audit_failure(request, shown, outcome)
        if outcome.locked:
            return login_page(request, 429, username=username if valid_name else "",
                              target=target, locked_minutes=minutes(here.throttle.lock))
        return login_page(request, 401, True, username if valid_name else "", target)
    audit_refused(request, user.name, here.throttle.succeeded(keys[0]))
    old = request.cookies.get(COOKIE)
    if old:  # whoever had this browser's session before, it ends here
        here.accounts.close_session(old)
    token = here.accounts.open_session(user)
    here.audit.record(user.name, "login", "login")
    response = RedirectResponse(landing(request, user) if target == HOME else target,
                                status_code=303)
    response.set_cookie(COOKIE, token, path="/", httponly=True, samesite="strict",
                        secure=secure(request))
    return response


def client_address(request: Request) -> str:
    """The peer's address (the station is reached directly: proxy headers are ignored)."""
    return request.client.host if request.client else "-"


def minutes(seconds: float) -> int:
    return max(1, -(-int(seconds) // 60))


def audit_failure(request: Request, shown: str, outcome: Outcome) -> None:
    """The first failure of a burst, then each lock: the tries between are only counted."""
    here = station(request)
    audit_refused(request, shown, outcome.refused_before)
    if outcome.first:
        here.audit.record(shown, "login-failed", "login")
    for key in outcome.locked:
        limit = here.throttle.account_limit if key.startswith("account:") else here.throttle.address_limit
        here.audit.record(shown, "login-locked", "login",
                          detail=f"{key}: {limit} échecs, verrouillé {minutes(here.throttle.lock)} min")


def audit_refused(request: Request, shown: str, refused: dict[str, int] | None) -> None:
    """How many tries a lock turned away, once the lock is over."""
    for key, count in (refused or {}).items():
        station(request).audit.record(shown, "login-refused", "login",
                                      detail=f"{key}: {count} tentatives refusées pendant le verrouillage")


async def logout(request: Request) -> Response:
    here = station(request)
    token = request.cookies.get(COOKIE)
    if token:
        await run_in_threadpool(here.accounts.close_session, token)
    await run_in_threadpool(here.audit.record, current_user(request).name, "logout", "logout")
    response = RedirectResponse("/login", status_code=303)
    forget_cookie(request, response)
    return response
