"""A station neither adopts nor waits on a bad segment for ever, and its sync never dies:
implausible segments are held until an administrator accepts them, a signed segment it
cannot read is passed at the next checkpoint, every failed round is recorded and the
loop goes on, and no download grows past what was announced."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import orjson
import pyrage
import pytest
import zstandard
from pyrage import x25519
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from releve.capture.files import discover, ndjson_tasks, total_size
from releve.capture.writer import Writer
from releve.station import folder
from releve.station.index.connection import reader
from releve.station.local.accounts import Accounts
from releve.station.local.audit import Audit
from releve.station.sync import Settings, Status, SyncError, init_station, open_source, sync_once
from releve.station.web.app import server_config
from releve.vault import format as fmt
from releve.vault.keys import create_station_identity, load_signer
from releve.vault.minisign import file_digest_bytes
from releve.vault.server import create_app
from releve.vault.source import FolderSource, HttpVault
from releve.vault.store import LocalVault

from conftest import run_releve
from helpers import serving, wait_until

PASSWORD = "correct horse battery"
READER, WRITER = "reader-token-" + "r" * 32, "writer-token-" + "w" * 32


# --- a vault and a station ---------------------------------------------------------------------


def _write(writer: Writer, folder_: Path, resources: list[dict], deletes: list[str] = ()):
    folder_.mkdir(parents=True, exist_ok=True)
    path = folder_ / f"part-{len(list(folder_.iterdir()))}.ndjson"
    lines = [orjson.dumps(r) for r in resources]
    lines += [orjson.dumps({"delete": {"resourceType": k.split("/")[0], "id": k.split("/")[1]}})
              for k in deletes]
    path.write_bytes(b"\n".join(lines) + b"\n")
    source = discover([path])[0]
    return writer.write(lambda: ndjson_tasks(source, allow_deletes=True), "test",
                        size_hint=total_size([source]))


def _patient(i: int) -> dict:
    return {"resourceType": "Patient", "id": f"p{i}", "name": [{"family": "Martin", "given": [f"G{i}"]}]}


def _observation(i: int) -> dict:
    return {"resourceType": "Observation", "id": f"o{i}", "status": "final",
            "subject": {"reference": f"Patient/p{i % 50}"}}


@pytest.fixture
def writer(tmp_path, keys, vault_dir):
    """A vault holding 50 patients and 200 observations (segment 1)."""
    made = Writer(LocalVault(vault_dir), load_signer(keys.signing_key), tmp_path / "writer")
    _write(made, tmp_path / "inputs", [_patient(i) for i in range(50)]
           + [_observation(i) for i in range(200)])
    yield made
    made.close()


@pytest.fixture
def station(tmp_path, keys, vault_dir, writer) -> Path:
    """A station holding segment 1."""
    path = tmp_path / "station"
    init_station(path, keys.identity, source=open_source(str(vault_dir)))
    assert sync_once(path, FolderSource(vault_dir)).applied == [1]
    return path


def _counts(station: Path) -> tuple[int, int, int]:
    """(patients, resources, head) the station serves."""
    conn = reader(station)
    patients = conn.execute("SELECT count(*) FROM patients").fetchone()[0]
    resources = conn.execute("SELECT count(*) FROM records").fetchone()[0]
    head = int(dict(conn.execute("SELECT key, value FROM meta"))["seq"])
    conn.close()
    return patients, resources, head


def _history(station: Path) -> dict[int, tuple[str, str | None]]:
    conn = reader(station)
    rows = {seq: (outcome, reason) for seq, outcome, reason in
            conn.execute("SELECT seq, outcome, reason FROM segments")}
    conn.close()
    return rows


def _handmade(vault_dir: Path, keys, kind: str, records: list[bytes], *,
              recipient: str | None = None, claimed_puts: int | None = None) -> int:
    """Append a segment made by hand as the writer makes one, validly signed by the
    vault's signer: header frame and records frame, zstd, age, minisign."""
    vault = LocalVault(vault_dir)
    seq, prev = vault.head()
    seq += 1
    puts = len(records) if claimed_puts is None else claimed_puts
    descriptor = fmt.Descriptor(vault=vault.config.vault_id, seq=seq, prev=prev, kind=kind,
                                time=fmt.utc_now(), source="by hand", puts=puts, deletes=0)
    header = fmt.Header(descriptor, _types(records, puts)).to_line()
    compress = zstandard.ZstdCompressor().compress
    plain = compress(header) + compress(b"".join(records))
    cipher = pyrage.encrypt(plain, [x25519.Recipient.from_str(recipient or keys.recipient)])
    signature = load_signer(keys.signing_key).sign(file_digest_bytes(cipher), descriptor.to_comment())
    (vault_dir / fmt.SEGMENTS_DIR / fmt.segment_name(seq)).write_bytes(cipher)
    (vault_dir / fmt.SEGMENTS_DIR / fmt.signature_name(seq)).write_text(signature)
    return seq


def _types(records: list[bytes], puts: int) -> dict[str, dict[str, int]]:
    """The header's counts by type, as the writer writes them; a claim of more puts than
    there are records is put on the first type (the plaintext then contradicts itself
    only in its count)."""
    counts = Counter(orjson.loads(record)["resourceType"] for record in records)
    if counts and puts != len(records):
        counts[min(counts)] += puts - len(records)
    return {name: {"put": counts[name], "delete": 0} for name in sorted(counts)}


def _pages(station: Path) -> tuple[str, str, dict]:
    """A page in French, the same in English, and /health, as a nurse's browser gets them."""
    Accounts(station).add_user("nurse", "nurse", PASSWORD, "Nina")
    with serving(server_config(station, "127.0.0.1", 0)) as url:
        client = httpx.Client(base_url=url, timeout=30, headers={"Origin": url})  # as a browser
        assert client.post("/login", data={"username": "nurse", "password": PASSWORD}).status_code == 303
        return (client.get("/patients").text, client.get("/patients?lang=en").text,
                client.get("/health").json())


# --- 1. plausibility before adoption -------------------------------------------------------------


def test_an_empty_full_segment_is_held_until_an_admin_accepts_it(tmp_path, keys, vault_dir,
                                                                   writer, station):
    seq = _handmade(vault_dir, keys, "full", [])
    outcome = sync_once(station, FolderSource(vault_dir))
    assert outcome.held == seq and outcome.applied == []
    assert _counts(station) == (50, 250, 1)  # still serving what it had
    held = Status.load(station).held
    assert held["seq"] == seq and "empty full segment" in held["reason"]
    assert "250 resources and 50 patients" in held["reason"]
    # the next sync does not adopt it either, nor rebuild anything to judge it again
    assert sync_once(station, FolderSource(vault_dir)).held is None
    assert _counts(station) == (50, 250, 1)

    status = run_releve("station", "status", "--station", station, check=False)
    assert status.returncode == 1
    again = run_releve("station", "sync", "--station", station, "--vault", vault_dir, check=False)
    assert again.returncode == 3 and f"segment {seq} is still held" in again.stderr.decode()
    assert f"segment {seq} (full) held" in status.stdout.decode()
    french, english, health = _pages(station)
    assert f"Segment {seq} retenu, non appliqué" in french and "empty full segment" in french
    assert f"Segment {seq} held, not applied" in english
    assert health["held_segment"] == seq

    refused = run_releve("station", "accept", "--station", station, "--segment", "1", check=False)
    assert refused.returncode != 0 and "not held" in refused.stderr.decode()
    run_releve("station", "accept", "--station", station, "--segment", str(seq))
    entry = Audit(station).entries(limit=1)[0]
    assert entry.action == "accept-segment" and f"segment {seq}" in entry.detail
    assert entry.user.startswith("os:")
    assert sync_once(station, FolderSource(vault_dir)).applied == [seq]
    assert _counts(station) == (0, 0, seq)
    assert "accepted by os:" in _history(station)[seq][1]
    after = Status.load(station)
    assert after.held is None and after.accepted is None


def test_a_delta_deleting_more_than_the_share_is_held(tmp_path, keys, vault_dir, writer, station):
    """60 of 250 resources (24% > 20%): held on the signed counts, before decryption."""
    _write(writer, tmp_path / "inputs", [], deletes=[f"Observation/o{i}" for i in range(60)])
    assert sync_once(station, FolderSource(vault_dir)).held == 2
    assert _counts(station) == (50, 250, 1)
    assert "mass deletion: 60 of 250 resources (24% > 20%)" == Status.load(station).held["reason"]
    # the share is the station's setting
    settings = Settings.load(station)
    settings.max_removed_share = 0.3
    settings.save(station)
    assert sync_once(station, FolderSource(vault_dir)).applied == [2]
    assert _counts(station) == (50, 190, 2)


def test_a_delta_losing_too_many_patients_is_rolled_back_and_held(tmp_path, keys, vault_dir,
                                                                  writer, station):
    """15 of 50 patients, only 6% of the resources: the content, not the counts, says so."""
    _write(writer, tmp_path / "inputs", [], deletes=[f"Patient/p{i}" for i in range(15)])
    _write(writer, tmp_path / "inputs", [_patient(99)])
    outcome = sync_once(station, FolderSource(vault_dir))
    assert outcome.held == 2 and outcome.applied == []
    assert _counts(station) == (50, 250, 1)
    assert Status.load(station).held["reason"] == "mass deletion: 15 of 50 patients (30% > 20%)"


def test_a_checkpoint_without_most_patients_is_built_but_not_switched_in(tmp_path, keys, vault_dir,
                                                                         writer, station):
    """210 resources where 250 were (16%), but 10 of the 50 patients: the new generation
    is thrown away, the current one stays."""
    current = folder.current_file(station).read_text()
    records = [orjson.dumps(r) + b"\n" for r in
               [_observation(i) for i in range(200)] + [_patient(i) for i in range(10)]]
    seq = _handmade(vault_dir, keys, "full", records, claimed_puts=210)
    assert sync_once(station, FolderSource(vault_dir)).held == seq
    assert folder.current_file(station).read_text() == current
    assert [p.name for p in folder.generation_files(station) if p.suffix == ".sqlite"] == [current.strip()]
    assert Status.load(station).held["reason"] == "mass deletion: 40 of 50 patients (80% > 20%)"


def test_capture_and_station_share_the_rule():
    from releve.capture.fhir_capture import Guard
    from releve.deletions import MAX_SHARE, MIN_HELD

    assert (Guard().max_delete_share, Guard().min_state_for_share) == (MAX_SHARE, MIN_HELD)
    assert (Settings().max_removed_share) == MAX_SHARE


# --- 2. never stuck for ever ---------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["other recipient", "plaintext contradicts its signature"])
def test_an_unreadable_segment_is_passed_at_the_next_checkpoint(tmp_path, keys, vault_dir, writer,
                                                                station, damage):
    if damage == "other recipient":
        _, other = create_station_identity(tmp_path / "elsewhere", "elsewhere")
        bad = _handmade(vault_dir, keys, "delta", [orjson.dumps(_patient(70)) + b"\n"], recipient=other)
    else:
        bad = _handmade(vault_dir, keys, "delta", [orjson.dumps(_patient(70)) + b"\n"], claimed_puts=2)
    with pytest.raises(SyncError, match=f"segment {bad} is signed but cannot be read"):
        sync_once(station, FolderSource(vault_dir))
    assert _counts(station) == (50, 250, 1)
    assert _history(station)[bad][0] == "unreadable"
    for i in (71, 72):  # the writer's own state stops at the hand-made one: by hand too
        _handmade(vault_dir, keys, "delta", [orjson.dumps(_patient(i)) + b"\n"])
    with pytest.raises(SyncError, match="next checkpoint"):  # still stuck, and says so
        sync_once(station, FolderSource(vault_dir))
    assert _counts(station) == (50, 250, 1)
    assert Status.load(station).unreadable["seq"] == bad
    status = run_releve("station", "status", "--station", station, check=False)
    assert status.returncode == 1 and f"segment {bad} cannot be read" in status.stdout.decode()
    french, english, health = _pages(station)
    assert f"Segment {bad} illisible" in french and f"Segment {bad} unreadable" in english
    assert health["unreadable_segment"] == bad

    checkpoint = _handmade(vault_dir, keys, "full", [orjson.dumps(r) + b"\n" for r in
                           [_patient(i) for i in (*range(50), 71, 72)]
                           + [_observation(i) for i in range(200)]])
    outcome = sync_once(station, FolderSource(vault_dir))
    assert outcome.applied == [checkpoint]
    assert _counts(station) == (52, 252, checkpoint)
    history = _history(station)
    assert history[bad][0] == "unreadable"
    assert history[checkpoint] == ("applied", f"adopted past unreadable segment {bad} "
                                              f"(segments {bad}–{checkpoint - 1} not applied)")
    assert Status.load(station).unreadable is None and Status.load(station).error is None
    shown = run_releve("station", "status", "--station", station).stdout.decode()
    assert f"history: segment {checkpoint} applied: adopted past unreadable segment {bad}" in shown


# --- 3. never dies -------------------------------------------------------------------------------


def _flaky_vault(vault_dir: Path, answers: list[str]) -> Starlette:
    """The real vault behind something that first answers each listing badly, one way
    after another (a proxy's page, a JSON cut short, an error page), then lets it through."""
    real = create_app(LocalVault(vault_dir), WRITER, READER)

    async def listing(request: Request) -> Response:
        if answers:
            answer = answers.pop(0)
            if answer == "html":
                return Response("<html><body>Proxy: please sign in</body></html>",
                                media_type="text/html")
            if answer == "truncated":
                return Response('{"segments": [{"seq": 1, "sha', media_type="application/json")
            return Response("<h1>502 Bad Gateway</h1>", status_code=502, media_type="text/html")
        return await real_listing(request)

    async def real_listing(request: Request) -> Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=real),
                                     base_url="http://vault") as client:
            answer = await client.get(request.url.path, params=request.query_params,
                                      headers={"Authorization": f"Bearer {READER}"})
        return Response(answer.content, answer.status_code, media_type="application/json")

    return Starlette(routes=[Route("/v1/segments", listing), Mount("/", real)])


def test_the_sync_loop_survives_garbage_and_records_each_failure(tmp_path, keys, vault_dir, writer):
    station = tmp_path / "station"
    init_station(station, keys.identity, source=FolderSource(vault_dir))
    answers = ["html", "truncated", "502"]
    with serving(_flaky_vault(vault_dir, answers)) as url:
        loop = subprocess.Popen([sys.executable, "-m", "releve.cli", "station", "sync", "--station",
                                 str(station), "--vault", url, "--token", READER, "--interval", "1"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        try:
            wait_until("the loop to get through the garbage and sync",
                       lambda: Status.load(station).last_success, seconds=60)
            assert loop.poll() is None  # still going
        finally:
            loop.terminate()
            _, stderr = loop.communicate(timeout=10)
    reasons = [failure["reason"] for failure in Status.load(station).failures]
    assert len(reasons) == 3, reasons
    assert "not JSON (text/html" in reasons[0] and "a proxy" in reasons[0]
    assert "not JSON (application/json" in reasons[1]
    assert "answered 502" in reasons[2]
    assert Status.load(station).error is None and _counts(station)[2] == 1
    assert "next try in 2 s" in stderr.decode() and "next try in 8 s" in stderr.decode()
    shown = run_releve("station", "status", "--station", station).stdout.decode()
    assert "failed sync at" in shown and "answered 502" in shown


def test_a_full_disk_or_an_unforeseen_error_does_not_end_the_loop(tmp_path, keys, vault_dir, writer,
                                                                  station, monkeypatch):
    import errno

    from releve.station.index import writer as index_writer
    from releve.station.sync_loop import next_wait, sync_forever

    _write(writer, tmp_path / "inputs", [_patient(80)])
    rounds: list[str] = []
    real_apply = index_writer.Index.apply_delta

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def unforeseen(*args, **kwargs):
        raise KeyError("Patient/p3 Martin")  # a message that could hold data

    plan = [full_disk, unforeseen, real_apply]

    def next_round(seconds: float) -> None:
        rounds.append(f"{seconds:g}")
        if not plan:
            raise KeyboardInterrupt
        monkeypatch.setattr(index_writer.Index, "apply_delta", plan.pop(0))

    monkeypatch.setattr(index_writer.Index, "apply_delta", plan.pop(0))
    complaints: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        sync_forever(station, FolderSource(vault_dir), 3, lambda outcome: None,
                     lambda reason, wait: complaints.append(reason), sleep=next_round)
    assert rounds == ["6", "12", "3"]  # doubling in a row, back to the interval after
    assert "No space left on device" in complaints[0]
    assert complaints[1] == "unexpected KeyError"
    assert "Martin" not in Path(folder.status_file(station)).read_text()
    assert _counts(station)[2] == 2
    assert [next_wait(60, n) for n in range(5)] == [60, 120, 240, 300, 300]


# --- 4. bounded downloads ------------------------------------------------------------------------


def _longer_than_announced(vault_dir: Path, extra: int) -> Starlette:
    real = create_app(LocalVault(vault_dir), WRITER, READER)

    async def body(request: Request) -> Response:
        seq = int(request.path_params["seq"])
        data = (vault_dir / fmt.SEGMENTS_DIR / fmt.segment_name(seq)).read_bytes()
        return Response(data + b"\0" * extra, media_type="application/octet-stream")

    return Starlette(routes=[Route("/v1/segments/{seq:int}", body), Mount("/", real)])


def test_a_download_longer_than_announced_stops_and_leaves_nothing(tmp_path, keys, vault_dir, writer):
    station = tmp_path / "station"
    init_station(station, keys.identity, source=FolderSource(vault_dir))
    announced = LocalVault(vault_dir).info(1).size
    with serving(_longer_than_announced(vault_dir, 5 << 20)) as url:
        with pytest.raises(SyncError, match=f"segment 1 is longer than {announced} bytes"):
            sync_once(station, HttpVault(url, READER))
        target = tmp_path / "copy"
        with pytest.raises(Exception, match="download stopped"):
            HttpVault(url, READER).fetch(1, target, limit=announced)
        assert not target.exists()  # the partial copy is removed
    assert not folder.incoming_dir(station).exists()
    conn = reader(station)
    assert conn.execute("SELECT count(*) FROM records").fetchone()[0] == 0  # nothing applied
    conn.close()


def test_a_segment_announced_bigger_than_the_maximum_is_not_fetched(tmp_path, keys, vault_dir, writer):
    station = tmp_path / "station"
    init_station(station, keys.identity, source=FolderSource(vault_dir))
    settings = Settings.load(station)
    settings.max_segment_mb = 0.001  # 1048 bytes
    settings.save(station)
    with serving(create_app(LocalVault(vault_dir), WRITER, READER)) as url:
        with pytest.raises(SyncError, match="segment 1 is announced as .* bytes, more than this "
                                            "station accepts \\(1048 bytes"):
            sync_once(station, HttpVault(url, READER))
    with pytest.raises(SyncError, match="segment 1 is announced"):  # a folder's size too
        sync_once(station, FolderSource(vault_dir))
