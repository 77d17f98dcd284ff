"""The writer's own promises: dedup, last occurrence wins, crash settling, rebuild."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from releve.capture import state as state_module
from releve.capture.files import InputError, discover, import_tasks, total_size
from releve.capture.rebuild import rebuild_state
from releve.capture.state import StateError
from releve.capture.writer import Writer
from releve.vault.keys import load_identities, load_signer
from releve.vault.plaintext import segment_records
from releve.vault.source import FolderSource
from releve.vault.state import current_records
from releve.vault.store import LocalVault, segment_numbers


def _writer(vault_dir: Path, keys, state: Path, **kwargs) -> Writer:
    return Writer(LocalVault(vault_dir), load_signer(keys.signing_key), state, **kwargs)


def _import(writer: Writer, *paths: Path, kind: str = "delta"):
    sources = discover(list(paths))
    return writer.write(lambda: import_tasks(sources), "test", kind=kind,
                        size_hint=total_size(sources))


def _ndjson(path: Path, resources: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in resources))
    return path


def _state(vault_dir: Path, keys) -> dict[str, dict]:
    """The vault's current state, decrypted and replayed."""
    lines = dict(current_records(LocalVault(vault_dir), load_identities(keys.identity)))
    return {key: orjson.loads(line) for key, line in lines.items()}


def test_last_occurrence_wins_and_reimport_writes_nothing(tmp_path, keys, vault_dir):
    data = _ndjson(tmp_path / "a.ndjson", [
        {"resourceType": "Patient", "id": "p1", "gender": "female"},
        {"resourceType": "Patient", "id": "p2"},
        {"resourceType": "Patient", "id": "p1", "gender": "male"},
    ])
    writer = _writer(vault_dir, keys, tmp_path / "state")
    first = _import(writer, data)
    assert (first.puts, first.deletes) == (2, 0)
    assert _state(vault_dir, keys)["Patient/p1"]["gender"] == "male"
    assert _import(writer, data) is None


@pytest.mark.parametrize("workers", [1, 2])
def test_duplicates_across_parallel_blocks(tmp_path, keys, vault_dir, workers, monkeypatch):
    """A resource repeated in another 8 MB block, with the import running in two workers."""
    import releve.capture.writer as writer_module

    monkeypatch.setattr(writer_module, "PARALLEL_THRESHOLD", 0)
    filler = [{"resourceType": "Observation", "id": f"o{i}", "note": "x" * 2000} for i in range(6000)]
    data = _ndjson(tmp_path / "big.ndjson", [{"resourceType": "Patient", "id": "p", "v": 1},
                                             *filler, {"resourceType": "Patient", "id": "p", "v": 2}])
    writer = _writer(vault_dir, keys, tmp_path / "state", workers=workers)
    written = _import(writer, data)
    assert written.puts == 6001
    assert _state(vault_dir, keys)["Patient/p"]["v"] == 2
    assert _import(writer, data) is None


def test_incremental_writes_only_changes_and_deletes(tmp_path, keys, vault_dir):
    base = [{"resourceType": "Patient", "id": f"p{i}"} for i in range(50)]
    writer = _writer(vault_dir, keys, tmp_path / "state")
    _import(writer, _ndjson(tmp_path / "a.ndjson", base))
    changed = base[:49] + [{"resourceType": "Patient", "id": "p49", "active": False}]
    written = _import(writer, _ndjson(tmp_path / "a.ndjson", changed))
    assert (written.seq, written.puts, written.deletes) == (2, 1, 0)
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "DELETE", "url": "Patient/p0"}},
        {"request": {"method": "DELETE", "url": "Patient/never-existed"}}]}
    (tmp_path / "b.json").write_bytes(orjson.dumps(bundle))
    written = _import(writer, tmp_path / "b.json")
    assert (written.puts, written.deletes) == (0, 1)
    state = _state(vault_dir, keys)
    assert "Patient/p0" not in state and state["Patient/p49"]["active"] is False
    assert len(state) == 49


def test_crash_between_prepare_and_append_is_rolled_back(tmp_path, keys, vault_dir, monkeypatch):
    writer = _writer(vault_dir, keys, tmp_path / "state")
    _import(writer, _ndjson(tmp_path / "a.ndjson", [{"resourceType": "Patient", "id": "a"}]))
    vault = writer.vault

    def lost_append(*args, **kwargs):
        raise SystemExit("killed")

    monkeypatch.setattr(vault, "commit", lost_append)  # the segment never enters the log
    with pytest.raises(SystemExit):
        _import(writer, _ndjson(tmp_path / "b.ndjson", [{"resourceType": "Patient", "id": "b"}]))
    monkeypatch.undo()
    assert writer.state.get("pending_seq") == 2
    written = _import(writer, tmp_path / "b.ndjson")  # settles (rolls back), then writes again
    assert written.seq == 2 and written.puts == 1
    assert sorted(_state(vault_dir, keys)) == ["Patient/a", "Patient/b"]


def test_a_segment_saved_in_parts_then_cut_short_is_rolled_back(tmp_path, keys, vault_dir,
                                                                  monkeypatch):
    """A large segment's rows are committed in parts while it is scanned; cut short before
    it is prepared, the state must come back to what the vault holds, updates, deletes
    and a full segment's set-aside rows alike."""
    monkeypatch.setattr(state_module, "SAVE_EVERY", 2)
    writer = _writer(vault_dir, keys, tmp_path / "state")
    _import(writer, _ndjson(tmp_path / "a.ndjson", [{"resourceType": "Patient", "id": f"p{i}",
                                                      "gender": "female"} for i in range(9)]))
    before = writer.state.lookup([f"Patient/p{i}" for i in range(12)])
    changed = _ndjson(tmp_path / "b.ndjson", [
        *({"resourceType": "Patient", "id": f"p{i}", "gender": "male"} for i in range(5)),
        *({"resourceType": "Patient", "id": f"n{i}"} for i in range(5))])
    for kind in ("delta", "full"):
        def cut_short(*args, writer=writer, **kwargs):
            assert writer.state.get("pending_seq") == 2  # parts of it were committed
            raise SystemExit("killed")

        monkeypatch.setattr(writer.state, "prepare", cut_short)
        with pytest.raises(SystemExit):
            _import(writer, changed, kind=kind)
        monkeypatch.undo()
        monkeypatch.setattr(state_module, "SAVE_EVERY", 2)
        writer.close()
        writer = _writer(vault_dir, keys, tmp_path / "state")  # as a new process would
        assert writer.state.get("pending_seq") is None  # rolled back at close (abandon)
        assert writer.state.lookup([f"Patient/p{i}" for i in range(12)]) == before
        assert writer.state.lookup([f"Patient/n{i}" for i in range(5)]) == {}
    written = _import(writer, changed)
    assert (written.seq, written.puts) == (2, 10)
    assert sorted(_state(vault_dir, keys)) == sorted(
        [f"Patient/p{i}" for i in range(9)] + [f"Patient/n{i}" for i in range(5)])


def test_a_crash_after_a_part_was_saved_is_settled_by_the_next_writer(tmp_path, keys,
                                                                      vault_dir, monkeypatch):
    """kill -9 after some rows were committed: the next writer finds `pending_seq` with no
    hash, and rolls it back before writing again."""
    monkeypatch.setattr(state_module, "SAVE_EVERY", 2)
    writer = _writer(vault_dir, keys, tmp_path / "state")
    _import(writer, _ndjson(tmp_path / "a.ndjson", [{"resourceType": "Patient", "id": "a"}]))
    monkeypatch.setattr(state_module.WriterState, "abandon", lambda self: None)  # as if killed
    monkeypatch.setattr(writer.state, "prepare", lambda *a: (_ for _ in ()).throw(SystemExit("killed")))
    data = _ndjson(tmp_path / "b.ndjson", [{"resourceType": "Patient", "id": f"b{i}"} for i in range(6)])
    with pytest.raises(SystemExit):
        _import(writer, data)
    writer.state.env.close()
    monkeypatch.undo()
    again = _writer(vault_dir, keys, tmp_path / "state")
    assert again.state.get("pending_seq") == 2 and again.state.get("pending_hash") is None
    written = _import(again, data)  # settles (rolls back), then writes
    assert (written.seq, written.puts) == (2, 6)
    assert sorted(_state(vault_dir, keys)) == ["Patient/a"] + [f"Patient/b{i}" for i in range(6)]


def test_crash_after_append_is_confirmed(tmp_path, keys, vault_dir, monkeypatch):
    writer = _writer(vault_dir, keys, tmp_path / "state")
    monkeypatch.setattr(writer.state, "confirm", lambda *hint: (_ for _ in ()).throw(SystemExit("killed")))
    with pytest.raises(SystemExit):
        _import(writer, _ndjson(tmp_path / "a.ndjson", [{"resourceType": "Patient", "id": "a"}]))
    monkeypatch.undo()
    assert _import(writer, tmp_path / "a.ndjson") is None  # settled as written: nothing new
    assert LocalVault(vault_dir).sequence_numbers() == [1]


def test_stale_state_is_refused_then_rebuilt(tmp_path, keys, vault_dir):
    data = _ndjson(tmp_path / "a.ndjson", [{"resourceType": "Patient", "id": f"p{i}"} for i in range(10)])
    _import(_writer(vault_dir, keys, tmp_path / "s1"), data)
    stranger = _writer(vault_dir, keys, tmp_path / "s2")
    with pytest.raises(StateError, match="--full"):
        _import(stranger, data)
    stranger.close()
    count = rebuild_state(FolderSource(vault_dir), load_identities(keys.identity), tmp_path / "s2")
    assert count == 10
    assert _import(_writer(vault_dir, keys, tmp_path / "s2"), data) is None


def test_checkpoint_holds_the_current_state(tmp_path, keys, vault_dir):
    writer = _writer(vault_dir, keys, tmp_path / "state")
    _import(writer, _ndjson(tmp_path / "a.ndjson", [{"resourceType": "Patient", "id": f"p{i}"}
                                                    for i in range(5)]))
    _import(writer, _ndjson(tmp_path / "a.ndjson", [{"resourceType": "Patient", "id": "p1", "x": 1}]))
    before = _state(vault_dir, keys)
    full = writer.checkpoint()
    assert full.kind == "full" and full.puts == 5
    records = _records(vault_dir, keys, full.seq)
    assert {r.key: orjson.loads(r.line) for r in records} == before


def test_a_damaged_cache_stops_a_checkpoint_and_says_how_to_mend_it(tmp_path, keys, vault_dir):
    """The cache of plaintext a checkpoint is made of, cut short: no full segment is
    written from what is left of it, and the message names the command that mends it."""
    writer = _writer(vault_dir, keys, tmp_path / "state")
    _import(writer, _ndjson(tmp_path / "a.ndjson", [{"resourceType": "Patient", "id": f"p{i}"}
                                                    for i in range(5)]))
    cache = writer.state.plain_path(1)
    cache.write_bytes(cache.read_bytes()[:-5])  # inside the last frame's checksum and data
    with pytest.raises(StateError, match=r"1\.zst is damaged \(a zstd frame is cut short .*"
                                         r"`releve vault rebuild-state`"):
        writer.checkpoint()
    assert segment_numbers(vault_dir / "segments") == [1]


def test_numbers_are_kept_exactly_as_written(tmp_path, keys, vault_dir):
    """FHIR decimals carry their precision (0.010 is not 0.01): nothing may round them,
    whether the line is stored as received (ndjson) or rewritten (Bundle entries)."""
    exact = (b'{"resourceType":"Observation","id":"o1","valueQuantity":{"value":1.50},'
             b'"component":[{"valueQuantity":{"value":0.010}},{"valueInteger":12345678901234567890}],'
             b'"note":[{"text":"1E2 stays text"}],"extension":[{"valueDecimal":1E2}]}')
    (tmp_path / "a.ndjson").write_bytes(exact + b"\n")
    bundle = (b'{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:'
              b'11111111-1111-4111-8111-111111111111","resource":{"resourceType":"Patient",'
              b'"id":"p"}},{"resource":{"resourceType":"Observation","id":"o2",'
              b'"subject":{"reference":"urn:uuid:11111111-1111-4111-8111-111111111111"},'
              b'"valueQuantity":{"value":37.20},"referenceRange":[{"low":{"value":3.5E1}}]}}]}')
    (tmp_path / "b.json").write_bytes(bundle)
    _import(_writer(vault_dir, keys, tmp_path / "state"), tmp_path / "a.ndjson", tmp_path / "b.json")
    lines = dict(current_records(LocalVault(vault_dir), load_identities(keys.identity)))
    assert lines["Observation/o1"].rstrip(b"\n") == exact
    o2 = lines["Observation/o2"]
    assert b'"value":37.20' in o2 and b'"low":{"value":35}' in o2  # same digits
    assert b'"reference":"Patient/p"' in o2


def test_history_bundle_applies_oldest_first_and_names_entries_as_written(tmp_path, keys, vault_dir):
    history = {"resourceType": "Bundle", "type": "history", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p", "gender": "female"},
         "request": {"method": "PUT", "url": "Patient/p"}},           # newest
        {"request": {"method": "DELETE", "url": "Patient/p"}},
        {"resource": {"resourceType": "Patient", "id": "p", "gender": "male"},
         "request": {"method": "POST", "url": "Patient"}},             # oldest
    ]}
    (tmp_path / "h.json").write_bytes(orjson.dumps(history))
    writer = _writer(vault_dir, keys, tmp_path / "state")
    _import(writer, tmp_path / "h.json")
    assert _state(vault_dir, keys)["Patient/p"]["gender"] == "female"
    history["entry"][1]["request"]["url"] = "Patient?name=x"
    (tmp_path / "h.json").write_bytes(orjson.dumps(history))
    with pytest.raises(InputError, match=r"h\.json: entry 2: DELETE"):
        _import(writer, tmp_path / "h.json")


def test_a_suspect_segment_is_written_but_not_adopted(tmp_path, keys, vault_dir):
    """Poisoned data (issue 3's guard) goes to the vault, flagged, for the record; the
    writer, like the stations, keeps the last good state as its reference."""
    writer = _writer(vault_dir, keys, tmp_path / "state")
    good = [{"resourceType": "Patient", "id": f"p{i}", "gender": "female"} for i in range(5)]
    _import(writer, _ndjson(tmp_path / "a.ndjson", good))
    garbled = [{"resourceType": "Patient", "id": f"p{i}", "gender": "x" * 40} for i in range(5)]
    sources = discover([_ndjson(tmp_path / "b.ndjson", garbled)])
    written = writer.write(lambda: import_tasks(sources), "test", suspect="payload looks encrypted")
    assert written.seq == 2 and written.puts == 5
    assert LocalVault(vault_dir).info(2).descriptor.suspect == "payload looks encrypted"
    assert all(p["gender"] == "female" for p in _state(vault_dir, keys).values())
    # the good data again: nothing to write, the writer never adopted the garbage
    assert _import(writer, tmp_path / "a.ndjson") is None
    full = writer.checkpoint()
    records = _records(vault_dir, keys, full.seq)
    assert {orjson.loads(r.line)["gender"] for r in records} == {"female"}


def _records(vault_dir: Path, keys, seq: int) -> list:
    """The records of segment `seq`, every rule of the format checked."""
    vault = LocalVault(vault_dir)
    return list(segment_records(vault.segment_path(seq), vault.info(seq).descriptor,
                                load_identities(keys.identity)))


def test_a_carriage_return_between_tokens_is_never_stored(tmp_path, keys, vault_dir):
    """JSON allows a CR between tokens; a record line may hold none (format 7.2): such an
    ndjson line is stored compact, and every reader accepts the segment."""
    from releve.vault.verify import verify

    path = tmp_path / "cr.ndjson"
    path.write_bytes(b'{"resourceType":"Patient",\r"id":"p1",\r  "gender":"male"}\n'
                     b'{"resourceType":"Patient","id":"p2"}\r\n')
    written = _import(_writer(vault_dir, keys, tmp_path / "state"), path)
    lines = [record.line for record in _records(vault_dir, keys, written.seq)]
    assert lines == [b'{"resourceType":"Patient","id":"p1","gender":"male"}\n',
                     b'{"resourceType":"Patient","id":"p2"}\n']
    assert verify(LocalVault(vault_dir), load_identities(keys.identity)).records == 2
