"""SMART Backend Services: the access tokens of a system client, obtained and renewed here.

The HIS's authorization server knows our client by its id and the public JWKS registered
with it (`releve keys client` makes the pair). For a token we POST a client_credentials
grant whose client assertion is a JWT we sign with the private key (RS384 or ES384;
iss = sub = the client id, aud = the token URL, exp at most five minutes ahead, a new
jti each time, since the server refuses a jti it has seen). The token URL is given, or
read from `[base]/.well-known/smart-configuration`.

`BackendAuth` is an httpx authentication flow, so every request of a FhirClient (search
and history pages, bulk kick-off, status polls and file downloads) carries a token that
is still valid: it is renewed a margin before it expires (10% of its life, at most 60 s),
and once more when the server answers 401 anyway (a server may revoke early). Neither the
key nor a token is ever put in a message or a log line.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import stat
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .client import FhirError, Retry

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEFAULT_SCOPE = "system/*.read"  # SMART v1; v2 servers also take system/*.rs
ALGORITHMS = ("ES384", "RS384")
ASSERTION_SECONDS = 240  # the spec allows five minutes; less leaves room for clock skew
MAX_MARGIN = 60.0  # renew this long before expiry at most (10% of the token's life at least)
DEFAULT_LIFE = 300  # what a token response without expires_in is taken to last
TOKEN_RETRY = Retry(attempts=4)  # a token endpoint that is busy or restarting


class SmartError(FhirError):
    """SMART Backend Services could not give us a token; the message says why (the key
    file, the discovery, or the authorization server's own OAuth error)."""


# --- keys -----------------------------------------------------------------------------------


PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def new_client_key(alg: str) -> tuple[bytes, dict[str, Any]]:
    """A new private key for `alg` as PEM (PKCS#8), and the public JWKS to register."""
    if alg == "ES384":
        key: PrivateKey = ec.generate_private_key(ec.SECP384R1())
    elif alg == "RS384":
        key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    else:
        raise SmartError(f"the signing algorithm must be {' or '.join(ALGORITHMS)}, not {alg!r}")
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return pem, {"keys": [public_jwk(key)]}


def public_jwk(key: PrivateKey) -> dict[str, Any]:
    """The key's public half as a JWK with its alg, use and kid (the RFC 7638 thumbprint)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        jwk = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "alg": algorithm_of(key), "use": "sig", "kid": thumbprint(jwk)}


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 over the required members, sorted, without white space."""
    required = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("e", "kty", "n")
    canonical = orjson.dumps({name: jwk[name] for name in required}, option=orjson.OPT_SORT_KEYS)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def algorithm_of(key: PrivateKey) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP384R1):
            raise SmartError(f"an EC client key must be on P-384 for ES384, not {key.curve.name}")
        return "ES384"
    return "RS384"


def load_client_key(path: Path) -> PrivateKey:
    """The client's private key from its PEM file, which only its owner may read: one that
    its group or other accounts may read has leaked already and is refused, as ssh does."""
    try:
        with open(path, "rb") as handle:
            mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
            pem = handle.read()
    except OSError as exc:
        raise SmartError(f"cannot read the client key {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise SmartError(f"the client key {path} can be read or changed by other accounts "
                         f"(mode {mode:04o}): make it private with `chmod 600 {path}`")
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):  # its message could quote the file: never shown
        raise SmartError(f"{path} is not an unencrypted PEM private key "
                         "(`releve keys client` writes one)") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise SmartError(f"{path}: the client key must be RSA (RS384) or EC P-384 (ES384)")
    algorithm_of(key)  # refuses another curve
    return key


# --- tokens ---------------------------------------------------------------------------------


@dataclass
class Token:
    value: str
    renew_at: float  # time.monotonic() at which to get the next one


class BackendAuth(httpx.Auth):
    """The tokens of one SMART Backend Services client, for every request of a FhirClient.

    Thread-safe (a walk fetches pages ahead in a thread); a forked copy (the capture's
    fetching process) gets its own lock and keeps the token it inherited."""

    def __init__(self, client_id: str, key: PrivateKey, fhir_base: str,
                 token_url: str | None = None, scope: str = DEFAULT_SCOPE,
                 verify: Any = True, timeout: float = 30.0, retry: Retry = TOKEN_RETRY,
                 sleep: Callable[[float], None] = time.sleep):
        self.client_id, self.key, self.scope = client_id, key, scope
        self.alg, self.kid = algorithm_of(key), public_jwk(key)["kid"]
        self.fhir_base = fhir_base.rstrip("/") + "/"
        self.token_url = token_url
        self.verify, self.timeout, self.retry, self.sleep = verify, timeout, retry, sleep
        self.token: Token | None = None
        self.tokens = 0  # how many the server gave us
        self._pid, self._lock = os.getpid(), threading.Lock()

    def __repr__(self) -> str:  # never the key nor the token
        return f"BackendAuth(client_id={self.client_id!r}, token_url={self.token_url!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        used = self.current()
        request.headers["Authorization"] = f"Bearer {used}"
        response = yield request
        if response.status_code == 401:  # revoked or expired early: one new token, one retry
            request.headers["Authorization"] = f"Bearer {self.current(stale=used)}"
            yield request

    def current(self, stale: str | None = None) -> str:
        """A token valid now: the one held, unless it is due for renewal or is `stale`."""
        with self._guard():
            token = self.token
            if token is None or token.value == stale or time.monotonic() >= token.renew_at:
                token = self.token = self._obtain()
            return token.value

    def _guard(self) -> threading.Lock:
        if self._pid != os.getpid():  # forked while another thread may have held the lock
            self._pid, self._lock = os.getpid(), threading.Lock()
        return self._lock

    def _obtain(self) -> Token:
        url = self.token_url or self.discover()
        for attempt in range(self.retry.attempts):
            asked = time.monotonic()
            try:
                response = httpx.post(url, data=self._grant(url), verify=self.verify,
                                      timeout=self.timeout, headers={"Accept": "application/json"})
            except httpx.HTTPError as exc:
                failure = type(exc).__name__
            else:
                if response.status_code < 500 and response.status_code != 429:
                    return self._token_from(response, url, asked)
                failure = f"HTTP {response.status_code}"
            if attempt + 1 < self.retry.attempts:
                self.sleep(self.retry.delay(attempt, None))
        raise SmartError(f"SMART token endpoint {url}: still failing after "
                         f"{self.retry.attempts} attempts ({failure})")

    def _grant(self, url: str) -> dict[str, str]:
        """The form of a client_credentials request, with a new assertion (a new jti)."""
        now = int(time.time())  # the real clock: the server checks exp against its own
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": url,
                  "exp": now + ASSERTION_SECONDS, "iat": now, "jti": secrets.token_urlsafe(24)}
        assertion = jwt.encode(claims, self.key, algorithm=self.alg,
                               headers={"kid": self.kid, "typ": "JWT"})
        return {"grant_type": "client_credentials", "scope": self.scope,
                "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}

    def _token_from(self, response: httpx.Response, url: str, asked: float) -> Token:
        """The token of a 2xx answer; any other answer as an error naming the server's
        OAuth error (RFC 6749 §5.2) and its description."""
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            body = {}
        if response.status_code != 200:
            error = str(body.get("error") or "no OAuth error given")[:80]
            described = str(body.get("error_description") or "")[:200]
            raise SmartError(f"SMART token endpoint {url} refused client {self.client_id!r}: "
                             f"HTTP {response.status_code} {error}"
                             + (f" ({described})" if described else ""))
        value = body.get("access_token")
        if not isinstance(value, str) or not value:
            raise SmartError(f"SMART token endpoint {url}: the answer has no access_token")
        life = body.get("expires_in", DEFAULT_LIFE)
        life = float(life) if isinstance(life, int | float) and life > 0 else DEFAULT_LIFE
        self.tokens += 1
        return Token(value, asked + life - min(MAX_MARGIN, life / 10))

    def discover(self) -> str:
        """The token URL of the server's `.well-known/smart-configuration`; kept."""
        where = urljoin(self.fhir_base, ".well-known/smart-configuration")
        try:
            response = httpx.get(where, verify=self.verify, timeout=self.timeout,
                                 headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise SmartError(f"{where}: {type(exc).__name__}; give --token-url") from None
        try:
            found = orjson.loads(response.content).get("token_endpoint") \
                if response.status_code == 200 else None
        except (orjson.JSONDecodeError, AttributeError):
            found = None
        if not isinstance(found, str) or not found.startswith(("http://", "https://")):
            raise SmartError(f"{where} (HTTP {response.status_code}) names no token_endpoint; "
                             "give --token-url")
        self.token_url = found
        return found
