"""Capture chooses its mode from the server's CapabilityStatement: a server without
system `_history` is captured by search, its deletions found by the id walk behind the
mass-deletion guard; a server without `$export` asked for bulk gets the mode to use.

The server here is the demo HIS behind a front that takes away what many real servers
lack (system `_history`, Bulk Data export) from its CapabilityStatement and its routes;
tests/test_capture_engine.py does the same against a FHIR engine we did not write."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from releve.capture.capabilities import ModeError, choose
from releve.vault.store import LocalVault
from test_capture import capture, his_base, server_state, transaction, vault_state

from conftest import run_releve
from helpers import serving

SHAPES = Path(__file__).parent / "data" / "shapes"


def plain_his(store, keep: tuple[str, ...] = ()):
    """The demo HIS app without system `_history` nor `$export` (unless named in `keep`):
    gone from its CapabilityStatement, and their routes answer 404 as on such servers."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Mount, Route

    from releve.demo.his.server import capability, create_app

    def metadata(request: Request) -> JSONResponse:
        statement = capability(str(request.base_url).rstrip("/"))
        rest = statement["rest"][0]
        if "history" not in keep:
            rest["interaction"] = [i for i in rest["interaction"] if i["code"] != "history-system"]
        if "export" not in keep:
            del rest["operation"], statement["instantiates"]
        return JSONResponse(statement, media_type="application/fhir+json")

    def missing(request: Request) -> JSONResponse:
        return JSONResponse({"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "not-supported", "diagnostics": "no such route"}]},
            status_code=404)

    hidden = [Route(path, missing, methods=["GET", "POST"]) for name, path in
              (("history", "/_history"), ("export", "/$export")) if name not in keep]
    return Starlette(routes=[Route("/metadata", metadata), *hidden,
                             Mount("", app=create_app(store))])


def patients(count: int) -> list[dict]:
    return [{"resourceType": "Patient", "id": f"p{i}", "gender": "female",
             "name": [{"family": f"Martin{i}", "given": ["Hélène"]}]} for i in range(count)]


@pytest.fixture
def no_history_his(tmp_path: Path) -> Iterator[str]:
    """60 patients, each with two observations, on a server without system `_history`."""
    from rich.console import Console

    from releve.demo.his.load import populate
    from releve.demo.his.store import Store

    data = tmp_path / "his-data.ndjson"
    lines = patients(60) + [
        {"resourceType": "Observation", "id": f"o{i}-{j}", "status": "final",
         "code": {"text": "Température"}, "subject": {"reference": f"Patient/p{i}"},
         "valueQuantity": {"value": 37.5, "unit": "°C"}} for i in range(60) for j in range(2)]
    data.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    store = Store(tmp_path / "his.db")
    populate(store, 1, 10, None, [data], Console(quiet=True))
    try:
        with serving(plain_his(store), log_level="error") as url:
            yield his_base(url)
    finally:
        store.close()


def throttled(app, path: str, times: int):
    """`app` behind a front that answers the first `times` requests to `path` with 429 and
    Retry-After 2, as a busy HIS does."""
    from starlette.responses import Response

    answered = []

    async def front(scope, receive, send):
        if scope["type"] == "http" and scope["path"] == path and len(answered) < times:
            answered.append(scope["query_string"])
            await Response(status_code=429, headers={"Retry-After": "2"})(scope, receive, send)
            return
        await app(scope, receive, send)

    return front


def test_a_wait_on_a_search_is_said_and_noted(tmp_path, keys, vault_dir):
    """A 429 on a page of the snapshot (fetched in a process of its own): the wait is
    said as it begins, without the query's values, and noted in the status with its
    reason; `capture status` asks for attention when it exceeds the interval."""
    from rich.console import Console

    from releve.demo.his.load import populate
    from releve.demo.his.store import Store

    data = tmp_path / "his-data.ndjson"
    data.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in patients(5)))
    store = Store(tmp_path / "his.db")
    populate(store, 1, 10, None, [data], Console(quiet=True))
    state = tmp_path / "capture-state"
    try:
        with serving(throttled(plain_his(store), "/Patient", 1), log_level="error") as url:
            done = capture(vault_dir, keys, state, his_base(url), "--mode", "search")
    finally:
        store.close()
    said = "waiting 2 s: HTTP 429 on Patient?…, Retry-After 2"
    assert said in done.stderr.decode(), done.stderr.decode()
    cycle = orjson.loads((state / "capture.json").read_bytes())["last_cycle"]
    assert cycle["longest_wait"] == 2.0 and cycle["longest_wait_why"] == said[len("waiting 2 s: "):]
    shown = run_releve("capture", "status", "--state", state, "--interval", "1", check=False)
    assert shown.returncode == 1
    assert ("attention: the FHIR server made the capture wait 2 s (HTTP 429 on Patient?…, "
            "Retry-After 2), longer than the interval (1 s)") in shown.stdout.decode()


def status_text(state: Path) -> str:
    return run_releve("capture", "status", "--state", state).stdout.decode()


def test_a_server_without_system_history_is_captured_by_search(no_history_his, tmp_path,
                                                               keys, vault_dir):
    base, state = no_history_his, tmp_path / "capture-state"
    first = capture(vault_dir, keys, state, base)
    assert "segment 1 (full): 180 put" in first.stdout.decode()
    transaction(base, [{"resource": {"resourceType": "Patient", "id": "p1", "gender": "male"},
                        "request": {"method": "PUT", "url": "Patient/p1"}}])
    # never failing cycle after cycle on a _history it does not have
    second = capture(vault_dir, keys, state, base, "--mode", "history")
    assert "segment 2 (delta): 1 put, 0 deleted" in second.stdout.decode()
    third = capture(vault_dir, keys, state, base, "--mode", "history")
    assert "nothing changed" in third.stdout.decode()
    assert vault_state(vault_dir, keys) == server_state(base)
    status = status_text(state)
    assert "(search), 3 cycles" in status
    assert "declares no system-level _history (history-system)" in status
    assert "--mode history asked" in status
    assert "FAILED" not in status and "error" not in status


def test_the_id_walk_brings_deletions_to_the_vault(no_history_his, tmp_path, keys, vault_dir):
    status = walk_brings_deletions(no_history_his, tmp_path / "capture-state", keys, vault_dir)
    assert "(search), 3 cycles" in status


def walk_brings_deletions(base: str, state: Path, keys, vault_dir: Path, *mode: str) -> str:
    """Two resources deleted on a server whose cycles do not see it: they stay until the
    id walk is due, which then removes them, once. The status, after the walk."""
    capture(vault_dir, keys, state, base, *mode)
    transaction(base, [{"request": {"method": "DELETE", "url": "Observation/o3-1"}},
                       {"request": {"method": "DELETE", "url": "Patient/p7"}}])
    not_yet = capture(vault_dir, keys, state, base, *mode)  # a walk every 300 s by default
    assert "nothing changed" in not_yet.stdout.decode()
    assert "Patient/p7" in vault_state(vault_dir, keys)
    assert "deletions: complete as of the full snapshot" in status_text(state)
    walked = capture(vault_dir, keys, state, base, *mode, "--deletion-walk-every", "0")
    assert "segment 2 (delta): 0 put, 2 deleted" in walked.stdout.decode()
    held = vault_state(vault_dir, keys)
    assert "Patient/p7" not in held and "Observation/o3-1" not in held
    assert held == server_state(base)
    status = status_text(state)
    assert "178 ids listed (_elements=id), 2 deleted" in status
    assert "a search of Patient with _elements=id honours it" in status  # probed
    again = capture(vault_dir, keys, state, base, *mode, "--deletion-walk-every", "0")
    assert "nothing changed" in again.stdout.decode()
    return status


def test_a_mass_deletion_seen_by_the_id_walk_is_refused_once(no_history_his, tmp_path,
                                                            keys, vault_dir):
    base, state = no_history_his, tmp_path / "capture-state"
    capture(vault_dir, keys, state, base)
    before = vault_state(vault_dir, keys)
    transaction(base, [{"request": {"method": "DELETE", "url": f"Observation/o{i}-{j}"}}
                       for i in range(40) for j in range(2)])
    walked = capture(vault_dir, keys, state, base, "--deletion-walk-every", "0")
    assert "ALERT" in walked.stderr.decode()
    assert "id walk: mass deletion: 80 of 180" in walked.stderr.decode()
    descriptor = LocalVault(vault_dir).info(2).descriptor
    assert descriptor.suspect and "mass deletion" in descriptor.suspect
    assert descriptor.deletes == 80
    assert vault_state(vault_dir, keys) == before  # the suspect segment is not adopted
    code, shown = status_code_text(state)
    assert "refused as suspect: mass deletion: 80 of 180" in shown
    attention = "attention: segment 2 of the id walk is marked suspect: mass deletion: 80 of 180"
    assert code == 1 and attention in shown, shown
    again = capture(vault_dir, keys, state, base, "--deletion-walk-every", "0")
    assert "ALERT" not in again.stderr.decode()  # one alarm for one episode
    assert LocalVault(vault_dir).sequence_numbers() == [1, 2]
    assert status_code_text(state)[0] == 1 and attention in status_code_text(state)[1]

    transaction(base, [{"resource": {"resourceType": "Observation", "id": f"o{i}-{j}",
                                     "status": "final", "code": {"text": "back"}},
                        "request": {"method": "PUT", "url": f"Observation/o{i}-{j}"}}
                       for i in range(40) for j in range(2)])
    capture(vault_dir, keys, state, base, "--deletion-walk-every", "0")  # the server whole again
    code, shown = status_code_text(state)
    assert code == 0 and "nothing needs attention" in shown, shown


def status_code_text(state: Path) -> tuple[int, str]:
    shown = run_releve("capture", "status", "--state", state, check=False)
    return shown.returncode, shown.stdout.decode()


def test_bulk_without_export_names_the_mode_to_use(no_history_his, tmp_path, keys, vault_dir):
    result = capture(vault_dir, keys, tmp_path / "s", no_history_his, "--mode", "bulk",
                     "--interval", "1", check=False)
    assert result.returncode == 2
    message = result.stderr.decode()
    assert "declares no Bulk Data export ($export): use --mode search" in message
    assert LocalVault(vault_dir).sequence_numbers() == []


def shape(name: str) -> dict:
    return orjson.loads((SHAPES / name).read_bytes())


def test_the_mode_follows_what_the_server_declares():
    rich = shape("capture-capability-history-bulk.json")
    chosen = choose(rich, "auto")
    assert (chosen.mode, chosen.types, chosen.id_params) == (
        "history", ("MedicationRequest", "Patient"), (("_elements", "id"),))
    assert choose(rich, "bulk").mode == "bulk"  # the export operation's canonical, versioned
    assert choose(rich, "search").mode == "search"
    plain = shape("capture-capability-search-only.json")
    chosen = choose(plain, "history")  # the client part's history-system is not the server's
    assert (chosen.mode, chosen.types) == ("search", ("Condition", "Observation"))
    assert chosen.id_params == (("_summary", "true"),)  # _elements is not declared for all
    assert "--mode history asked" in chosen.why
    with pytest.raises(ModeError, match=r"use --mode search \(it declares no system-level"):
        choose(plain, "bulk")
    without_export = {**rich, "instantiates": []}
    without_export["rest"] = [{**rich["rest"][0], "operation": []}]
    with pytest.raises(ModeError, match=r"use --mode history \(it declares system-level"):
        choose(without_export, "bulk")


def test_the_id_walk_lists_the_matches_only():
    """An id-only page as servers send it: subsetted resources, an outcome entry, an
    included resource of another type; only the matches are ids of the type walked."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from releve.capture.id_walk import list_ids
    from releve.fhir.client import FhirClient

    asked = []

    def observations(request: Request) -> Response:
        asked.append(dict(request.query_params))
        return Response((SHAPES / "capture-searchset-ids-only.json").read_bytes(),
                        media_type="application/fhir+json")

    with serving(Starlette(routes=[Route("/Observation", observations)]), log_level="error") as url:
        client = FhirClient(url)
        try:
            assert list_ids(client, "Observation", {"_elements": "id"}) == {"obs-a", "obs-b", "obs-c"}
        finally:
            client.close()
    assert asked == [{"_elements": "id", "_count": "1000"}]
