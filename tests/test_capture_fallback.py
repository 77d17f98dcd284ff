"""A server whose CapabilityStatement promises more than it serves: a system `_history`
that answers "not supported" or nothing at all, an id walk that fails; and the capture's
instants on the one clock that `capture status` judges them by.

The server is the demo HIS behind a front that changes one answer at a time (its
CapabilityStatement stays the HIS's own, which declares system `_history`); the same
case on a FHIR engine we did not write is in tests/test_capture_engine.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from releve.vault.store import LocalVault
from test_capture import capture, his_base, server_state, transaction, vault_state
from test_capture_modes import patients, status_text

from conftest import NOW, run_releve
from helpers import serving

NOT_SUPPORTED = {"resourceType": "OperationOutcome", "issue": [
    {"severity": "error", "code": "not-supported", "diagnostics": "no system history here"}]}
EMPTY_HISTORY = {"resourceType": "Bundle", "type": "history", "total": 0}

Answer = tuple[int, dict | None]  # what the front says instead of the HIS


class Front:
    """The demo HIS app, with `/_history` answered by `history` when set, and the id
    walk's searches of Observation refused while `walk_refused` is."""

    def __init__(self, app, history: Answer | None = None):
        self.app, self.history, self.walk_refused = app, history, False

    async def __call__(self, scope, receive, send) -> None:
        answer = self._instead(scope) if scope["type"] == "http" else None
        if answer is None:
            await self.app(scope, receive, send)
            return
        status, body = answer
        data = orjson.dumps(body) if body is not None else b""
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/fhir+json"),
                                (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})

    def _instead(self, scope) -> Answer | None:
        if scope["path"] == "/_history" and self.history is not None:
            return self.history
        query = scope["query_string"].decode()
        if self.walk_refused and scope["path"] == "/Observation" and "_elements" in query:
            return 400, {"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "too-costly", "diagnostics": "walk refused"}]}
        return None


@pytest.fixture
def his_front(tmp_path: Path) -> Iterator[Callable[..., tuple[str, Front]]]:
    """Start the demo HIS (60 patients and 120 observations, or nothing when
    `empty`) behind a Front; yields a function that starts it and gives its base."""
    from rich.console import Console

    from releve.demo.his.load import populate
    from releve.demo.his.server import create_app
    from releve.demo.his.store import Store

    stores, servers = [], []

    def start(history: Answer | None = None, empty: bool = False) -> tuple[str, Front]:
        data = tmp_path / "his-data.ndjson"
        lines = [] if empty else patients(60) + [
            {"resourceType": "Observation", "id": f"o{i}-{j}", "status": "final",
             "code": {"text": "Pouls"}, "subject": {"reference": f"Patient/p{i}"}}
            for i in range(60) for j in range(2)]
        data.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
        store = Store(tmp_path / "his.db")
        stores.append(store)
        if lines:
            populate(store, 1, 10, None, [data], Console(quiet=True))
        front = Front(create_app(store), history)
        server = serving(front, log_level="error")
        servers.append(server)
        return his_base(server.__enter__()), front

    try:
        yield start
    finally:
        for server in servers:
            server.__exit__(None, None, None)
        for store in stores:
            store.close()


def test_the_demo_his_is_captured_by_history_as_it_declares(his_front, tmp_path, keys,
                                                            vault_dir):
    base, _ = his_front()
    state = tmp_path / "capture-state"
    capture(vault_dir, keys, state, base)
    transaction(base, [{"request": {"method": "DELETE", "url": "Patient/p7"}}])
    second = capture(vault_dir, keys, state, base)
    assert "segment 2 (delta): 0 put, 1 deleted" in second.stdout.decode()
    status = status_text(state)
    assert "(history), 2 cycles" in status
    assert "because the server declares system-level _history (history-system)" in status


REFUSALS = [(404, None), (405, None), (501, NOT_SUPPORTED), (400, NOT_SUPPORTED),
            (403, None), (422, NOT_SUPPORTED), (200, EMPTY_HISTORY)]


@pytest.mark.parametrize(("code", "body"), REFUSALS)
def test_a_declared_history_that_does_not_work_falls_back_to_search(his_front, tmp_path, keys,
                                                                   vault_dir, code, body):
    base, _ = his_front((code, body))
    state = tmp_path / "capture-state"
    first = capture(vault_dir, keys, state, base)
    assert "segment 1 (full): 180 put" in first.stdout.decode()
    transaction(base, [{"resource": {"resourceType": "Patient", "id": "p1", "gender": "male"},
                        "request": {"method": "PUT", "url": "Patient/p1"}}])
    second = capture(vault_dir, keys, state, base)
    assert "segment 2 (delta): 1 put, 0 deleted" in second.stdout.decode()
    assert vault_state(vault_dir, keys) == server_state(base)
    shown = run_releve("capture", "status", "--state", state, check=False)
    status = " ".join(shown.stdout.decode().split())
    assert shown.returncode == 0, status
    assert "(search), 2 cycles" in status
    why = ("its _history lists nothing while a search of Patient finds resources" if code == 200
           else f"it answers GET /_history with HTTP {code}")
    assert f"mode: search, because the server declares system-level _history, but {why}" in status


def test_history_asked_by_name_on_a_server_refusing_it_names_search(his_front, tmp_path, keys,
                                                                   vault_dir):
    base, _ = his_front((501, NOT_SUPPORTED))
    result = capture(vault_dir, keys, tmp_path / "s", base, "--mode", "history", check=False)
    assert result.returncode == 2
    message = " ".join(result.stderr.decode().split())
    assert "it answers GET /_history with HTTP 501: no system history here: use --mode search" in message
    assert LocalVault(vault_dir).sequence_numbers() == []


def test_an_empty_history_on_an_empty_server_is_the_truth(his_front, tmp_path, keys, vault_dir):
    base, _ = his_front((200, EMPTY_HISTORY), empty=True)
    state = tmp_path / "capture-state"
    capture(vault_dir, keys, state, base)
    assert "(history), 1 cycles" in status_text(state)


def test_a_failed_id_walk_leaves_the_cycle_good_and_asks_for_attention(his_front, tmp_path,
                                                                       keys, vault_dir):
    base, front = his_front((404, None))
    state = tmp_path / "capture-state"
    capture(vault_dir, keys, state, base)
    front.walk_refused = True
    transaction(base, [{"resource": {"resourceType": "Patient", "id": "p1", "gender": "male"},
                        "request": {"method": "PUT", "url": "Patient/p1"}},
                       {"request": {"method": "DELETE", "url": "Patient/p7"}}])
    walked = capture(vault_dir, keys, state, base, "--deletion-walk-every", "0")
    assert "segment 2 (delta): 1 put, 0 deleted" in walked.stdout.decode()
    assert "id walk failed" in walked.stderr.decode() and "walk refused" in walked.stderr.decode()
    assert vault_state(vault_dir, keys)["Patient/p1"]["gender"] == "male"
    saved = orjson.loads((state / "capture.json").read_bytes())
    assert saved["last_cycle"]["ok"] is True and saved["id_walk"]["ok"] is False
    shown = run_releve("capture", "status", "--state", state, check=False)
    status = shown.stdout.decode()
    assert shown.returncode == 1
    said = " ".join(status.split())
    assert "attention: the id walk failed: " in said
    assert f"{base}/Observation: HTTP 400: walk refused" in said
    assert "last cycle: " in status and "FAILED" in status  # the walk's line, not the cycle's
    assert "the last cycle failed" not in status

    front.walk_refused = False
    again = capture(vault_dir, keys, state, base, "--deletion-walk-every", "0")
    assert "0 put, 1 deleted" in again.stdout.decode()
    assert "Patient/p7" not in vault_state(vault_dir, keys)
    assert run_releve("capture", "status", "--state", state, check=False).returncode == 0


def test_the_capture_stamps_its_instants_with_the_releve_clock(his_front, tmp_path, keys,
                                                              vault_dir):
    base, _ = his_front((404, None))
    state = tmp_path / "capture-state"
    capture(vault_dir, keys, state, base)
    capture(vault_dir, keys, state, base, "--deletion-walk-every", "0")
    saved = orjson.loads((state / "capture.json").read_bytes())
    pinned = "2026-01-14T09:00:00+00:00"
    assert NOW == "2026-01-14T10:00:00+01:00"
    assert saved["last_cycle"]["started"] == pinned and saved["id_walk"]["started"] == pinned
    assert saved["last_cycle"]["seconds"] > 0  # measured on the monotonic clock
    assert "lag: 0 s since the last cycle started" in status_text(state)
