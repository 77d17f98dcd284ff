"""What keeps other sites and other names out of the station, before any page runs.

- The Host header must be one of the station's names (Starlette's TrustedHostMiddleware,
  400 otherwise): a page on another site whose name is made to resolve to the station's
  address (DNS rebinding) would otherwise be read by that page's scripts.
- A POST must come from the station's own pages: its Origin (or, absent, its Referer)
  must be the station's origin, else 403. A POST with neither header is refused too:
  browsers send Origin on every POST, and scripts can send it as well.
- Every response carries the same security headers, set here once: pages may load
  only the station's own files, no site may frame them, nothing is sniffed, and no
  address leaves the station in a Referer.

Referrer-Policy is same-origin, not no-referrer: under no-referrer a browser sends
`Origin: null` with the station's own form posts, which the origin check would refuse.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALWAYS_ALLOWED = ("localhost", "127.0.0.1", "::1")
WILDCARD_ADDRESSES = ("", "0.0.0.0", "::")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
DEFAULT_PORTS = {"http": 80, "https": 443}
BEARER_PREFIXES = ("/peer/", "/fhir/")  # devices, scripts and peers: a token, not a cookie

CONTENT_SECURITY_POLICY = ("default-src 'self'; object-src 'none'; base-uri 'none'; "
                           "form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def allowed_hosts(bind_host: str, extra: Iterable[str] = ()) -> list[str]:
    """The names a request may use: loopback, the address the server listens on, the
    names given by the operator, and, when it listens on every interface, the machine's
    own names and addresses (what a ward PC is likely to type)."""
    names = [*ALWAYS_ALLOWED, *extra]
    if bind_host in WILDCARD_ADDRESSES:
        names += _machine_names()
    else:
        names.append(bind_host)
    return sorted({name.strip().strip("[]").lower() for name in names if name.strip()})


def _machine_names() -> list[str]:
    hostname = socket.gethostname()
    names = [hostname, socket.getfqdn()]
    try:
        names += [str(info[4][0]) for info in socket.getaddrinfo(hostname, None)]
    except OSError:  # a machine whose own name does not resolve
        pass
    return names


class HttpMiddleware:
    """An ASGI middleware that sees HTTP requests only (the lifespan events pass by)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.handle(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class SameOriginPostMiddleware(HttpMiddleware):
    """Refuses (403) a POST whose Origin, or else Referer, is not the station itself."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] in SAFE_METHODS or same_origin(scope) or carries_bearer(scope):
            await self.app(scope, receive, send)
            return
        await PlainTextResponse("Cross-origin request refused", status_code=403)(scope, receive, send)


def carries_bearer(scope: Scope) -> bool:
    """A request of the token API with a bearer token: no browser sends one to another
    site's address unasked (that needs CORS, which the station never grants), so the
    Origin check has nothing to guard; SignInMiddleware lets it through only when the
    token is valid (bearer.py), else it answers 401."""
    return (scope["path"].startswith(BEARER_PREFIXES)
            and bearer_token(Headers(scope=scope)) is not None)


def bearer_token(headers: Headers) -> str | None:
    """The token of `Authorization: Bearer T`, or None."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def same_origin(scope: Scope) -> bool:
    """Whether the request's Origin (or Referer) names the scheme, host and port it was
    sent to. The Host header has been checked against the allow-list already."""
    headers = Headers(scope=scope)
    claimed = headers.get("origin") or headers.get("referer")
    host = headers.get("host")
    if not claimed or not host or claimed == "null":
        return False
    scheme = scope.get("scheme", "http")
    return _origin(claimed) == _origin(f"{scheme}://{host}")


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return parts.scheme.lower(), parts.hostname.lower(), port


class SecurityHeadersMiddleware(HttpMiddleware):
    """Adds HEADERS to every response that does not set them itself."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, sending)
