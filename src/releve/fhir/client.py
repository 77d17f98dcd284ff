"""A FHIR R4 REST client that survives real servers: paging, retries, authentication.

What capture needs and nothing more. Every request goes through `FhirClient.get`, which
retries what a busy or restarting server answers (429, 502, 503, 504, time-outs,
dropped connections) with exponential backoff, honouring Retry-After, and fails loudly
on anything else. Paging follows the server's `next` links, never builds its own, and
`pages()` checks that what paging delivered adds up to `Bundle.total` when the server
gives one: a capture must never silently miss a resource.
"""

from __future__ import annotations

import email.utils
import math
import queue
import random
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin

import httpx
import msgspec
import orjson

from ..errors import ReleveError
from .bundle import Head, Page, page_head, split_page
from .exact import loads_exact

RETRY_STATUS = frozenset({429, 502, 503, 504})
FHIR_JSON = "application/fhir+json"


class FhirError(ReleveError):
    """The server cannot be read as a FHIR server should be; the message says why."""


class GarbageError(FhirError):
    """The server answered with something that is not JSON at all (a database encrypted
    under it is one cause); `entropy` is in bits per byte, ciphertext is near 8."""

    def __init__(self, message: str, entropy: float, binary: float = 0.0):
        super().__init__(message)
        self.entropy = entropy
        self.binary = binary  # share of control bytes: text has none, ciphertext ~1/10

    def __reduce__(self) -> tuple:  # survives a trip between processes
        return type(self), (str(self), self.entropy, self.binary)

    @classmethod
    def of(cls, body: bytes, where: str) -> GarbageError:
        entropy = byte_entropy(body)
        return cls(f"{where}: the server sent something that is not JSON ({len(body)} "
                   f"bytes, {entropy:.1f} bits of entropy per byte)", entropy,
                   control_share(body))


@dataclass(frozen=True)
class Auth:
    """How to authenticate: a bearer token, HTTP basic, SMART Backend Services tokens
    (`smart`, fhir/smart.py's BackendAuth, which obtains and renews them), or nothing."""

    bearer: str | None = None
    user: str | None = None
    password: str | None = None
    smart: httpx.Auth | None = None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearer}"} if self.bearer else {}

    def flow(self) -> httpx.Auth | None:
        """What authenticates each request itself: SMART's tokens or HTTP basic."""
        if self.smart is not None:
            return self.smart
        return httpx.BasicAuth(self.user, self.password or "") if self.user else None


@dataclass(frozen=True)
class Retry:
    """Backoff policy: attempts in all, first delay, cap, and the longest Retry-After obeyed."""

    attempts: int = 8
    first_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 300.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        backoff = min(self.max_delay, self.first_delay * 2 ** attempt)
        return backoff * (0.5 + random.random() / 2)  # jitter: clients do not retry in step


PAGES_AHEAD = 1  # pages fetched before the caller asks for them


class FhirClient:
    def __init__(self, base_url: str, auth: Auth = Auth(), ca_file: Path | None = None,
                 timeout: float = 60.0, retry: Retry = Retry(),
                 sleep: Callable[[float], None] = time.sleep,
                 waiting: Callable[[float, str], None] | None = None):
        if not base_url.startswith(("http://", "https://")):
            raise FhirError(f"FHIR base URL must be http(s)://…, not {base_url!r}")
        self.base = base_url.rstrip("/") + "/"
        verify = tls_verify(ca_file)
        self._connect = lambda: httpx.Client(headers={"Accept": FHIR_JSON, **auth.headers()},
                                             auth=auth.flow(), verify=verify, timeout=timeout)
        self.http = self._connect()
        self.retry = retry
        self.sleep = sleep
        self.waiting = waiting  # told each pause before a retry, and why, as it begins
        self.requests = 0
        self.retries = 0

    def close(self) -> None:
        self.http.close()

    def fresh_connections(self) -> None:
        """New connections, none shared with the process this one was forked from (which
        may use its own again later): for a forked process that walks for its parent."""
        self.http = self._connect()

    def url(self, path_or_url: str) -> str:
        return urljoin(self.base, path_or_url)

    def get(self, path_or_url: str, params: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None,
            retry_on: frozenset[int] = RETRY_STATUS) -> httpx.Response:
        """GET with retries (of the answers `retry_on` and of failed connections); any
        other failure is a FhirError naming the URL (not the data). A Bulk status poll
        answers 429 and 503 itself (fhir/bulk.py): they are not failures there."""
        url = self.url(path_or_url)
        for attempt in range(self.retry.attempts):
            self.requests += 1
            try:
                response = self.http.get(url, params=params, headers=headers)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                if _untrusted(exc):  # no retry will make the certificate trusted
                    raise FhirError(f"{_path(url)}: the server's TLS certificate is not trusted "
                                    "(give the hospital's CA with --ca-cert)") from exc
                failure, retry_after = f"{type(exc).__name__}", None
            else:
                if response.status_code not in retry_on:
                    return response
                failure = f"HTTP {response.status_code}"
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            if attempt + 1 < self.retry.attempts:
                self.wait_to_retry(attempt, url, bool(params), failure, retry_after)
        raise FhirError(f"{_path(url)}: still failing after {self.retry.attempts} attempts "
                        f"({failure})")

    def wait_to_retry(self, attempt: int, url: str, query: bool, failure: str,
                      retry_after: float | None) -> None:
        """Pause before retrying `url`, having told `waiting` how long and why: a capture
        that waits in silence looks hung (a 429 once cost 300 s unseen). The reason names
        the resource type and the failure, never an id or a query value (`asked`)."""
        seconds = self.retry.delay(attempt, retry_after)
        why = f"{failure} on {self.asked(url, query)}" + (
            f", Retry-After {retry_after:g}" if retry_after is not None
            else f", attempt {attempt + 1} of {self.retry.attempts}")
        self.retries += 1
        if self.waiting is not None:
            self.waiting(seconds, why)
        self.sleep(seconds)

    def asked(self, url: str, query: bool = False) -> str:
        """What a request asked for, for a log line: the first segment of its path under
        the base (a resource type, an operation), "/…" and "?…" for the rest; ids and query
        values may identify a patient."""
        path, mark, _ = self.url(url).partition("?")
        inside = path.startswith(self.base)
        rest = path[len(self.base):] if inside else path.split("://", 1)[-1]
        first, slash, _ = rest.partition("/")
        shown = (first or "the base") + ("/…" if slash else "") + ("?…" if mark or query else "")
        return shown if inside else f"{shown} outside the FHIR base"

    def get_json(self, path_or_url: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.get(path_or_url, params)
        if response.status_code >= 400:
            raise FhirError(f"{_path(str(response.url))}: HTTP {response.status_code}"
                            f"{outcome_text(response)}")
        return parse_json(response.content, _path(str(response.url)))

    def pages(self, path: str, params: dict[str, Any] | None = None,
              history: bool = False) -> Iterator[Page]:
        """Every page of a search or history, first to last, following `next` links,
        each split into entries whose resources keep the server's bytes (fhir/bundle.py).

        A thread walks one page ahead (`ahead`): the server computes the next page while
        the caller splits and digests this one, instead of after (at 1000 beds, 17 ms a
        page of 1000 history entries, on the chain that paces the walk).

        Raises FhirError at the end if the server announced a `total` that the entries
        delivered do not match."""
        total: int | None = None
        delivered = 0
        for number, raw in enumerate(ahead(self.walk(path, params), PAGES_AHEAD)):
            page = _parsed(raw.body, raw.where, lambda body: split_page(body, history))
            if page.next != raw.head.next:
                raise FhirError(f"{raw.where}: the page's next link reads differently from "
                                "its whole body")
            page.date = raw.date
            if number == 0:
                total = page.total
            delivered += page.matches
            yield page
        check_total(path, total, delivered)

    def walk(self, path: str, params: dict[str, Any] | None = None) -> Iterator[RawPage]:
        """Every page of a search as the bytes the server sent, with what paging needs of
        it (fhir/bundle.py `page_head`): for a caller that splits the pages elsewhere, and
        so must itself check the entries against `Bundle.total` (`check_total`)."""
        for response, head in self._walk(path, params, page_head):
            yield RawPage(response.content, head, _path(str(response.url)),
                          response.headers.get("date"))

    def _walk(self, path: str, params: dict[str, Any] | None,
              parse: Callable[[bytes], Any]) -> Iterator[tuple[httpx.Response, Any]]:
        """Each response of a walk with `parse(body)` of it (which has `.next`), first to
        last, following the server's `next` links."""
        url, query = path, params
        seen_links: set[str] = set()
        while True:
            response = self.get(url, query)
            where = _path(str(response.url))
            if response.status_code >= 400:
                raise FhirError(f"{where}: HTTP {response.status_code}{outcome_text(response)}")
            parsed = _parsed(response.content, where, parse)
            yield response, parsed
            if parsed.next is None:
                return
            if parsed.next in seen_links:
                raise FhirError(f"{path}: the server's next links loop")
            seen_links.add(parsed.next)
            url, query = parsed.next, None

    def capabilities(self) -> dict[str, Any]:
        statement = self.get_json("metadata")
        if statement.get("resourceType") != "CapabilityStatement":
            raise FhirError("metadata: not a CapabilityStatement")
        return statement


def tls_verify(ca_file: Path | None) -> ssl.SSLContext | bool:
    """How to check the server's certificate: against the hospital's CA, or the system's."""
    if ca_file is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise FhirError(f"cannot use CA file {ca_file}: {exc}") from exc


@dataclass
class RawPage:
    body: bytes
    head: Head
    where: str  # the page's URL without its query
    date: str | None  # the response's HTTP Date: the server's clock


def check_total(path: str, total: int | None, delivered: int) -> None:
    """A capture never silently misses a resource: the matches paging delivered must be
    the total the server announced on the first page, if it announced one."""
    if isinstance(total, int) and total != delivered:
        raise FhirError(f"{path}: the server announced {total} results but paging "
                        f"delivered {delivered}; nothing is written from this walk")


def _parsed(body: bytes, where: str, parse: Callable[[bytes], Any]) -> Any:
    """`parse(body)` of a page; its msgspec errors as the FhirErrors capture reports."""
    try:
        return parse(body)
    except msgspec.DecodeError as exc:
        raise GarbageError.of(body, where) from exc
    except msgspec.ValidationError as exc:
        raise FhirError(f"{where}: not a FHIR Bundle ({_plain(exc)})") from exc


T = TypeVar("T")


def ahead(items: Iterator[T], depth: int) -> Iterator[T]:
    """`items`, made by a thread of their own up to `depth` ahead of the consumer, in
    order; an exception raised making them is raised here, in its place.

    When the consumer stops early, the thread is waited for (it stops at its next item):
    whatever `items` uses (a client's connections) is free again once this returns."""
    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def make() -> None:
        try:
            for item in items:
                box.put((True, item))
                if stop.is_set():
                    return
            box.put((False, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            box.put((False, exc))

    maker = threading.Thread(target=make, name="walk-ahead", daemon=True)
    maker.start()
    try:
        while True:
            more, value = box.get()
            if not more:
                if value is not None:
                    raise value
                return
            yield value
    finally:
        stop.set()
        while maker.is_alive():  # take what it may be putting, so that it can stop
            try:
                box.get(timeout=0.05)
            except queue.Empty:
                pass
        maker.join()


def parse_json(body: bytes, where: str) -> dict[str, Any]:
    """A FHIR resource from a response body, decimals exactly as sent (fhir/exact.py)."""
    try:
        data = loads_exact(body)
    except ValueError as exc:  # orjson's and simplejson's decode errors are ValueErrors
        raise GarbageError.of(body, where) from exc
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        raise FhirError(f"{where}: the server sent JSON that is not a FHIR resource")
    return data


def _untrusted(exc: BaseException) -> bool:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


_CONTROL = bytes(c for c in range(32) if c not in b"\t\n\r") + b"\x7f"


def control_share(data: bytes) -> float:
    """The share of ASCII control bytes (tab and line ends aside).

    Entropy alone misjudged a short history page whose few encrypted resources sat in
    the Bundle's JSON framing (7.2 bits/byte, "not JSON"): text, HTML or JSON, has no
    control bytes, while ciphertext has about 27 in 256 whatever surrounds it."""
    if not data:
        return 0.0
    return (len(data) - len(data.translate(None, _CONTROL))) / len(data)


def byte_entropy(data: bytes) -> float:
    if not data:
        return 0.0
    counts = Counter(data)
    return -sum(n / len(data) * math.log2(n / len(data)) for n in counts.values())


def _plain(exc: Exception) -> str:
    return str(exc).replace("`", "")[:120]


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After in seconds, whether given as seconds or as an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _path(url: str) -> str:
    """A URL for messages and logs, without its query (which may hold patient data)."""
    return url.split("?", 1)[0]


def outcome_text(response: httpx.Response) -> str:
    """The error's reason for a message (': ' and its OperationOutcome's first issue's
    diagnostics or text), or '' when it gives none."""
    try:
        data = orjson.loads(response.content)
        issue = (data.get("issue") or [{}])[0]
        text = issue.get("diagnostics") or (issue.get("details") or {}).get("text")
        return f": {str(text)[:200]}" if text else ""
    except (orjson.JSONDecodeError, AttributeError, IndexError, TypeError):
        return ""
