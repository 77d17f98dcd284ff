"""The demo HIS's optional SMART Backend Services authorization server, so that capture's
tokens (fhir/smart.py) meet one that checks what a real one checks.

    GET  /.well-known/smart-configuration   discovery: token_endpoint and what it accepts
    POST /auth/token                        client_credentials with a JWT client assertion

The registered clients come from a JSON file: a JWKS (`releve keys client` writes
NAME.jwks.json, which registers the client id NAME), or an object mapping client ids to
their JWKS. The token endpoint verifies the assertion's signature against the client's
registered key, iss = sub = a known client, aud = this token URL, an exp at most five
minutes ahead and not past, and a jti never seen before; it answers RFC 6749's error
JSON otherwise. Tokens are opaque, and expire `token_seconds` after they were issued: a
test sets a few seconds to see capture renew them mid-walk.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import jwt
import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ...errors import ReleveError
from ...fhir.smart import ALGORITHMS, ASSERTION_TYPE
from .fhir import HisError

TOKEN_PATH = "/auth/token"
MAX_ASSERTION_LIFE = 300  # seconds ahead an assertion's exp may be (the spec's five minutes)
SKEW = 10  # seconds of clock difference forgiven

log = logging.getLogger("releve.demo.his")


class OAuthError(ReleveError):
    """A refused token request: RFC 6749 §5.2's error code and description."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.status = error, status


class Authority:
    """Registered clients, the tokens issued to them, and the jti values already used."""

    def __init__(self, clients: dict[str, jwt.PyJWKSet], token_seconds: float = 300.0):
        self.clients, self.token_seconds = clients, token_seconds
        self.tokens: dict[str, float] = {}  # token -> time.monotonic() it expires at
        self.seen_jti: dict[str, float] = {}  # jti -> the exp (epoch) after which it may go
        self.issued = 0
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: Path, token_seconds: float = 300.0) -> Authority:
        try:
            data = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise HisError(f"--smart-clients {path}: cannot read it as JSON ({exc})") from None
        if not isinstance(data, dict):
            raise HisError(f"--smart-clients {path}: not a JWKS nor a map of client ids to JWKS")
        if "keys" in data:  # NAME.jwks.json registers the client NAME
            data = {path.name.removesuffix(".json").removesuffix(".jwks"): data}
        try:
            return cls({client: jwt.PyJWKSet.from_dict(jwks) for client, jwks in data.items()},
                       token_seconds)
        except (jwt.PyJWTError, AttributeError, TypeError) as exc:
            raise HisError(f"--smart-clients {path}: a client's JWKS cannot be used ({exc})") from None

    # --- the FHIR routes' side ---------------------------------------------------------------

    def allows(self, authorization: str | None) -> bool:
        """Whether `Authorization` holds a token issued here that has not expired."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        with self._lock:
            expires = self.tokens.get(token)
            if expires is not None and time.monotonic() >= expires:
                del self.tokens[token]
                expires = None
        return expires is not None

    # --- the authorization server ------------------------------------------------------------

    def routes(self) -> list[Route]:
        return [Route("/.well-known/smart-configuration", self.configuration, methods=["GET"]),
                Route(TOKEN_PATH, self.token_endpoint, methods=["POST"])]

    async def configuration(self, request: Request) -> Response:
        return JSONResponse({
            "token_endpoint": token_url(request),
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
            "scopes_supported": ["system/*.read", "system/*.rs"],
            "capabilities": ["client-confidential-asymmetric"],
        })

    async def token_endpoint(self, request: Request) -> Response:
        form = await request.form()
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        try:
            token, scope = self.issue(fields, token_url(request))
        except OAuthError as exc:
            return JSONResponse({"error": exc.error, "error_description": str(exc)}, exc.status,
                                headers={"Cache-Control": "no-store"})
        return JSONResponse({"access_token": token, "token_type": "bearer",
                             "expires_in": self.token_seconds, "scope": scope},
                            headers={"Cache-Control": "no-store"})

    def issue(self, form: dict[str, str], audience: str) -> tuple[str, str]:
        """A new token for a valid client_credentials request, and its scope."""
        if form.get("grant_type") != "client_credentials":
            raise OAuthError("unsupported_grant_type", "grant_type must be client_credentials")
        if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
            raise OAuthError("invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}, "
                                                "with a client_assertion")
        scope = form.get("scope", "")
        if not scope or not all(part.startswith("system/") for part in scope.split()):
            raise OAuthError("invalid_scope", "a backend service asks for system/ scopes")
        claims = self.verified(form["client_assertion"], audience)
        with self._lock:
            now = time.time()
            self.seen_jti = {jti: exp for jti, exp in self.seen_jti.items() if exp + SKEW > now}
            if claims["jti"] in self.seen_jti:
                raise OAuthError("invalid_client", "the assertion's jti was used before (a replay)",
                                 401)
            self.seen_jti[claims["jti"]] = float(claims["exp"])
            token = secrets.token_urlsafe(32)
            self.tokens[token] = time.monotonic() + self.token_seconds
            self.issued += 1
            issued = self.issued
        # who got how many, never the token: a benchmark counts renewals from the log
        log.info("SMART token %d issued to client %s, valid %g s", issued, claims["iss"],
                 self.token_seconds)
        return token, scope

    def verified(self, assertion: str, audience: str) -> dict[str, Any]:
        """The assertion's claims, once its signature, issuer, audience and times hold."""
        try:
            header = jwt.get_unverified_header(assertion)
            client = jwt.decode(assertion, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError as exc:
            raise OAuthError("invalid_client", f"the client assertion is not a JWT ({exc})", 401) from None
        if header.get("alg") not in ALGORITHMS:
            raise OAuthError("invalid_client", f"the assertion must be signed {' or '.join(ALGORITHMS)}",
                             401)
        jwks = self.clients.get(client) if isinstance(client, str) else None
        if jwks is None:
            raise OAuthError("invalid_client", f"unknown client {str(client)[:80]!r}: no JWKS is "
                                               "registered for it", 401)
        keys = [key for key in jwks.keys if header.get("kid") in (None, key.key_id)]
        if not keys:
            raise OAuthError("invalid_client", f"no key of client {client!r} has kid "
                                               f"{str(header.get('kid'))[:80]!r}", 401)
        try:
            claims = jwt.decode(assertion, keys[0], algorithms=[header["alg"]], audience=audience,
                                issuer=client, leeway=SKEW,
                                options={"require": ["iss", "sub", "aud", "exp", "jti"]})
        except jwt.InvalidAudienceError:
            raise OAuthError("invalid_client", f"the assertion's aud is not this token endpoint "
                                               f"({audience})", 401) from None
        except jwt.ExpiredSignatureError:
            raise OAuthError("invalid_client", "the client assertion has expired", 401) from None
        except jwt.InvalidSignatureError:
            raise OAuthError("invalid_client", f"the assertion's signature does not verify with "
                                               f"the key registered for client {client!r}", 401) from None
        except jwt.PyJWTError as exc:
            raise OAuthError("invalid_client", f"the client assertion is refused ({exc})", 401) from None
        if claims["sub"] != client:
            raise OAuthError("invalid_client", "the assertion's sub must be its iss, the client id", 401)
        if claims["exp"] > time.time() + MAX_ASSERTION_LIFE + SKEW:
            raise OAuthError("invalid_client", "the assertion's exp is more than five minutes ahead",
                             401)
        return claims


def token_url(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}{TOKEN_PATH}"
