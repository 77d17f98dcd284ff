"""The FHIR client against a misbehaving server over real HTTP on loopback.

The server here is a few Starlette routes whose faults the tests switch on: it stands for
the real servers capture meets (busy, restarting, miscounting), which the demo HIS,
being well-behaved, does not imitate.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from releve.fhir.client import Auth, FhirClient, FhirError, Retry, ahead

from helpers import free_port, serving


@dataclass
class Faults:
    """What the server does wrong next; each list is consumed one request at a time."""

    statuses: list[int] = field(default_factory=list)
    retry_after: str | None = None
    slow: list[float] = field(default_factory=list)
    total: int | None = None
    garbage: bool = False
    loop: bool = False
    seen_headers: list[dict] = field(default_factory=list)


PAGES = [[f"p{page}-{i}" for i in range(3)] for page in range(3)]  # 9 patients, 3 pages


def make_app(faults: Faults) -> Starlette:
    async def patients(request: Request) -> Response:
        faults.seen_headers.append(dict(request.headers))
        if faults.slow:
            await asyncio.sleep(faults.slow.pop(0))
        if faults.statuses:
            status = faults.statuses.pop(0)
            headers = {"Retry-After": faults.retry_after} if faults.retry_after else {}
            return Response(b"busy", status_code=status, headers=headers)
        if faults.garbage:
            return Response(b"\x8f\x02 encrypted-looking bytes", media_type="application/fhir+json")
        page = int(request.query_params.get("page", "0"))
        bundle = {"resourceType": "Bundle", "type": "searchset",
                  "total": faults.total if faults.total is not None else 9,
                  "link": [{"relation": "self", "url": str(request.url)}],
                  "entry": [{"resource": {"resourceType": "Patient", "id": pid},
                             "search": {"mode": "match"}} for pid in PAGES[page]]}
        if page + 1 < len(PAGES) or faults.loop:
            following = page + 1 if not faults.loop else page
            bundle["link"].append({"relation": "next",
                                   "url": f"{request.base_url}fhir/Patient?page={following}"})
        return Response(orjson.dumps(bundle), media_type="application/fhir+json")

    return Starlette(routes=[Route("/fhir/Patient", patients)])


@pytest.fixture
def server() -> Iterator[tuple[str, Faults]]:
    faults = Faults()
    with serving(make_app(faults), seconds=10, log_level="error") as url:
        yield f"{url}/fhir", faults


def client(base: str, **kwargs) -> tuple[FhirClient, list[float]]:
    slept: list[float] = []
    kwargs.setdefault("retry", Retry(attempts=4, first_delay=0.01, max_delay=0.05))
    return FhirClient(base, sleep=slept.append, **kwargs), slept


def ids(pages) -> list[str]:
    return [item.rid for page in pages for item in page.items]


def test_pages_follow_next_links_and_count(server):
    base, _ = server
    fhir, _ = client(base)
    assert ids(fhir.pages("Patient")) == [pid for page in PAGES for pid in page]
    assert fhir.requests == 3


def test_a_miscounting_server_fails_loudly(server):
    base, faults = server
    faults.total = 10
    fhir, _ = client(base)
    with pytest.raises(FhirError, match="announced 10 results but paging delivered 9"):
        list(fhir.pages("Patient"))


def test_busy_server_is_retried_honouring_retry_after(server):
    base, faults = server
    faults.statuses = [429, 503]
    faults.retry_after = "2"
    fhir, slept = client(base)
    assert len(ids(fhir.pages("Patient"))) == 9
    assert slept == [2.0, 2.0] and fhir.retries == 2


def test_each_pause_is_told_with_its_reason_and_no_query_value(server):
    """Every wait before a retry, on any request, is said before it begins: the resource
    type and the failure, never an id or a query value (they may identify a patient)."""
    base, faults = server
    faults.statuses = [429, 503]
    faults.retry_after = "12"
    told: list[tuple[float, str]] = []
    fhir, slept = client(base, waiting=lambda seconds, why: told.append((seconds, why)))
    fhir.get_json("Patient", {"identifier": "IPP|0012345"})
    assert told == [(12.0, "HTTP 429 on Patient?…, Retry-After 12"),
                    (12.0, "HTTP 503 on Patient?…, Retry-After 12")] and slept == [12.0, 12.0]
    dead = free_port()
    nobody, _ = client(f"http://127.0.0.1:{dead}/fhir", waiting=lambda s, why: told.append((s, why)))
    with pytest.raises(FhirError):
        nobody.get_json("Patient/0012345")
    assert told[-1][1] == "ConnectError on Patient/…, attempt 3 of 4"
    elsewhere = free_port()
    with pytest.raises(FhirError):
        nobody.get_json(f"http://127.0.0.1:{elsewhere}/files/0012345.ndjson?sig=x")
    assert told[-1][1] == (f"ConnectError on 127.0.0.1:{elsewhere}/…?… outside the FHIR base, "
                           "attempt 3 of 4")
    assert not any("0012345" in why for _, why in told)


def test_retry_after_as_an_http_date(server):
    base, faults = server
    faults.statuses = [503]
    faults.retry_after = "Wed, 21 Oct 2015 07:28:00 GMT"  # in the past: retry at once
    fhir, slept = client(base)
    fhir.get_json("Patient")
    assert slept == [0.0]


def test_gives_up_after_the_last_attempt_naming_the_failure(server):
    base, faults = server
    faults.statuses = [503] * 10
    fhir, slept = client(base)
    with pytest.raises(FhirError, match=r"/fhir/Patient: still failing after 4 attempts \(HTTP 503\)"):
        fhir.get_json("Patient", {"name": "Dupont"})
    assert len(slept) == 3


def test_time_outs_and_refused_connections_are_retried(server):
    base, faults = server
    faults.slow = [1.0]
    fhir, slept = client(base, timeout=0.3)
    assert fhir.get_json("Patient")["total"] == 9
    assert fhir.retries == 1
    dead = free_port()
    nobody, slept = client(f"http://127.0.0.1:{dead}/fhir")
    with pytest.raises(FhirError, match="ConnectError"):
        nobody.get_json("Patient")
    assert len(slept) == 3


def test_garbage_is_an_error_that_does_not_echo_the_body(server):
    base, faults = server
    faults.garbage = True
    fhir, _ = client(base)
    with pytest.raises(FhirError, match="not JSON") as caught:
        list(fhir.pages("Patient", {"name": "Dupont"}))
    assert "encrypted" not in str(caught.value) and "Dupont" not in str(caught.value)


def test_next_link_loops_are_caught(server):
    base, faults = server
    faults.loop = True
    fhir, _ = client(base)
    with pytest.raises(FhirError, match="loop"):
        list(fhir.pages("Patient"))


def test_bearer_and_basic_authentication_are_sent(server):
    base, faults = server
    client(base, auth=Auth(bearer="s3cret"))[0].get_json("Patient")
    client(base, auth=Auth(user="capture", password="pw"))[0].get_json("Patient")
    assert faults.seen_headers[0]["authorization"] == "Bearer s3cret"
    assert faults.seen_headers[1]["authorization"].startswith("Basic ")


def test_bad_base_url_and_ca_file_are_refused(tmp_path):
    with pytest.raises(FhirError, match="http"):
        FhirClient("ftp://his/fhir")
    (tmp_path / "ca.pem").write_text("not a certificate")
    with pytest.raises(FhirError, match="CA file"):
        FhirClient("https://his/fhir", ca_file=tmp_path / "ca.pem")


# --- walking ahead ----------------------------------------------------------------------------


def test_walking_ahead_keeps_the_order_and_raises_the_error_in_its_place() -> None:
    def items() -> Iterator[int]:
        yield from range(5)
        raise FhirError("page 6: HTTP 500")

    got = []
    with pytest.raises(FhirError, match="page 6"):
        for item in ahead(items(), 1):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]


def test_a_consumer_that_stops_early_leaves_no_thread_walking() -> None:
    made = []

    def items() -> Iterator[int]:
        for n in range(1000):
            made.append(n)
            yield n

    before = threading.active_count()
    walked = ahead(items(), 1)
    assert [next(walked), next(walked)] == [0, 1]
    walked.close()  # what a `for` loop left by an exception does
    assert threading.active_count() == before
    assert len(made) <= 4  # it walked at most a page or two ahead, and stopped


def test_a_short_page_of_encrypted_resources_is_called_encrypted():
    """A history page whose few resources were encrypted in place keeps its JSON framing:
    7.2 bits/byte or less, yet ciphertext; an HTML error page is only "not JSON"."""
    import random

    from releve.capture.fhir_capture import garbage_reason
    from releve.fhir.client import GarbageError, parse_json

    noise = random.Random(7).randbytes(120)
    page = (b'{"resourceType":"Bundle","type":"history","entry":[{"fullUrl":"Patient/1",'
            b'"resource":' + noise + b'}]}')
    with pytest.raises(GarbageError) as caught:
        parse_json(page, "history")
    assert caught.value.entropy < 7.2 and "looks encrypted" in garbage_reason(caught.value)
    html = b"<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>" * 4
    with pytest.raises(GarbageError) as caught:
        parse_json(html, "history")
    assert "is not JSON" in garbage_reason(caught.value)
