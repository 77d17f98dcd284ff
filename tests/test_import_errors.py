"""Bad input is refused loudly: the file and line (or Bundle entry) named, what is wrong
said, a non-zero exit, and nothing written to the vault (which still verifies).

Every case runs the real `releve import` in a subprocess, as an operator would.
"""

from __future__ import annotations

import gzip
import random
import re
from pathlib import Path

import orjson
import pytest
import zstandard

from conftest import run_releve

BLOCK = 8 * 1024 * 1024  # the import's byte-range block size (capture/files.py)


# --- helpers ---------------------------------------------------------------------------------


def patient(i: int, **extra) -> dict:
    return {"resourceType": "Patient", "id": f"p{i}", "name": [{"family": f"Family{i}"}], **extra}


def good_line(i: int, **extra) -> bytes:
    return orjson.dumps(patient(i, **extra))


def five_lines_with(bad: bytes, at: int = 3, total: int = 5, eol: bytes = b"\n") -> bytes:
    """`total` good Patient lines, line number `at` (1-based) replaced by `bad`."""
    lines = [good_line(i) for i in range(1, total + 1)]
    lines[at - 1] = bad
    return b"".join(line + eol for line in lines)


def do_import(vault: Path, keys, state: Path, *paths: Path | str, extra: tuple = ()):
    return run_releve("import", "--vault", vault, "--signing-key", keys.signing_key,
                      "--state", state, *extra, *paths, check=False)


def stderr_of(result) -> str:
    return result.stderr.decode(errors="replace")


def segment_files(vault: Path) -> list[str]:
    return sorted(p.name for p in (vault / "segments").iterdir())


def assert_nothing_written(vault: Path) -> None:
    """No segment, no signature, no staged leftover; the (empty) vault still verifies."""
    assert list((vault / "segments").glob("*.age")) == []
    assert segment_files(vault) == []
    assert list((vault / "tmp").iterdir()) == []
    check = run_releve("vault", "verify", vault, check=False)
    assert check.returncode == 0, stderr_of(check)
    assert "0 segments" in check.stdout.decode()


def assert_refused(result, path: Path, where: str | None, *what: str | tuple[str, ...]) -> str:
    """Non-zero exit; stderr names `path` and `where` ('line 3', 'entry 2') together,
    then says what is wrong: each of `what` (a string, or a tuple of alternatives) must
    appear (case-insensitively) in the text that follows the location."""
    err = stderr_of(result)
    assert result.returncode != 0, f"import accepted bad input:\n{result.stdout.decode()}{err}"
    assert "Traceback" not in err, err
    location = f"{path}: {where}" if where else str(path)
    assert location in err, f"expected {location!r} in:\n{err}"
    message = err.split(location, 1)[1]
    if where:
        # the location is whole: 'line 3' is not the start of 'line 31'
        assert re.match(r"[:,]", message), err
    for alternatives in what:
        options = (alternatives,) if isinstance(alternatives, str) else alternatives
        assert any(option.lower() in message.lower() for option in options), \
            f"expected one of {options} after {location!r} in:\n{err}"
    return message


def current_state(vault: Path, keys) -> dict[str, bytes]:
    """`releve vault cat`: the vault's current state, as {Type/id: line}."""
    result = run_releve("vault", "cat", vault, "--identity", keys.identity)
    state = {}
    for line in result.stdout.splitlines():
        resource = orjson.loads(line)
        state[f"{resource['resourceType']}/{resource['id']}"] = line
    return state


# --- one bad line in the middle of an ndjson file -------------------------------------------------


BAD_LINES = {
    "malformed-truncated": (b'{"resourceType":"Patient","id":"x"', ("malformed JSON",)),
    "malformed-trailing-garbage": (b'{"resourceType":"Patient","id":"x"} oops', ("malformed JSON",)),
    "malformed-single-quotes": (b"{'resourceType':'Patient','id':'x'}", ("malformed JSON",)),
    "no-resourceType": (b'{"id":"x","active":true}', ("resourceType",)),
    "resourceType-not-a-string": (b'{"resourceType":7,"id":"x"}', ("resourceType",)),
    "resourceType-lowercase": (b'{"resourceType":"patient","id":"x"}', ("resourceType",)),
    "no-id": (b'{"resourceType":"Patient","active":true}', ("id",)),
    "id-not-a-string": (b'{"resourceType":"Patient","id":5}', ("id",)),
    "id-null": (b'{"resourceType":"Patient","id":null}', ("id",)),
    "id-empty": (b'{"resourceType":"Patient","id":""}', ("id",)),
    "id-with-slash": (b'{"resourceType":"Patient","id":"a/b"}', ("id", "a/b")),
    "id-too-long": (b'{"resourceType":"Patient","id":"' + b"a" * 65 + b'"}', ("id",)),
    "json-array": (b'[{"resourceType":"Patient","id":"x"}]', (("array", "object"),)),
    "json-string": (b'"Patient/x"', (("str", "object"),)),
    "json-number": (b"42", (("int", "object"),)),
    "invalid-utf8-in-value": (b'{"resourceType":"Patient","id":"x","gender":"\xff\xfe"}', ("UTF-8",)),
    "invalid-utf8-in-key": (b'{"resourceType":"Patient","id":"x","\xc3":1}', ("UTF-8",)),
    "utf8-encoded-surrogate": (b'{"resourceType":"Patient","id":"x","gender":"\xed\xa0\x80"}', ("UTF-8",)),
    "delete-in-ndjson": (b'{"delete":{"resourceType":"Patient","id":"p1"}}', ("resourceType",)),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_bad_ndjson_line_is_named(tmp_path, keys, vault_dir, case):
    bad, what = BAD_LINES[case]
    path = tmp_path / "input.ndjson"
    path.write_bytes(five_lines_with(bad, at=3))
    result = do_import(vault_dir, keys, tmp_path / "state", path)
    assert_refused(result, path, "line 3", *what)
    assert_nothing_written(vault_dir)


def test_crlf_file_and_blank_lines_count_as_lines(tmp_path, keys, vault_dir):
    """Windows line ends and blank lines: the number is still the editor's line number."""
    lines = [good_line(1), b"", good_line(2), b"   ", good_line(3), b'{"resourceType":"Patient"}',
             good_line(4)]
    path = tmp_path / "input.ndjson"
    path.write_bytes(b"".join(line + b"\r\n" for line in lines))
    result = do_import(vault_dir, keys, tmp_path / "state", path)
    assert_refused(result, path, "line 6", "id")
    assert_nothing_written(vault_dir)


def test_bad_first_and_last_line(tmp_path, keys, vault_dir):
    first = tmp_path / "first.ndjson"
    first.write_bytes(five_lines_with(b"{", at=1))
    assert_refused(do_import(vault_dir, keys, tmp_path / "state", first), first, "line 1",
                   "malformed JSON")
    last = tmp_path / "last.ndjson"
    last.write_bytes(five_lines_with(b'{"resourceType":"Patient"', at=5)[:-1])  # no final newline
    assert_refused(do_import(vault_dir, keys, tmp_path / "state", last), last, "line 5",
                   "malformed JSON")
    assert_nothing_written(vault_dir)


def test_bad_line_in_second_file_of_a_folder(tmp_path, keys, vault_dir):
    """Earlier good files are not written either: one import is one segment or nothing."""
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "a.ndjson").write_bytes(b"".join(good_line(i) + b"\n" for i in range(10, 20)))
    bad = folder / "b.ndjson"
    bad.write_bytes(five_lines_with(b'{"resourceType":"Patient","id":"no good"}', at=4))
    (folder / "c.ndjson").write_bytes(good_line(30) + b"\n")
    result = do_import(vault_dir, keys, tmp_path / "state", folder)
    message = assert_refused(result, bad, "line 4", "id")
    assert "a.ndjson" not in stderr_of(result) and "c.ndjson" not in stderr_of(result)
    assert "no good" in message
    assert_nothing_written(vault_dir)


# --- empty files, oversized resources, unknown files --------------------------------------------


EMPTY = {
    "ndjson": ("empty.ndjson", b""),
    "json": ("empty.json", b""),
    "json-whitespace": ("blank.json", b"  \n\n "),
    "ndjson.gz-zero-bytes": ("empty.ndjson.gz", b""),
    "ndjson.gz-of-nothing": ("empty.ndjson.gz", gzip.compress(b"")),
    "ndjson.zst-of-nothing": ("empty.ndjson.zst", zstandard.ZstdCompressor().compress(b"")),
}


@pytest.mark.parametrize("case", sorted(EMPTY))
def test_empty_file(tmp_path, keys, vault_dir, case):
    name, data = EMPTY[case]
    path = tmp_path / name
    path.write_bytes(data)
    result = do_import(vault_dir, keys, tmp_path / "state", path)
    assert_refused(result, path, None, "empty")
    assert_nothing_written(vault_dir)


def test_50_mb_resource(tmp_path, keys, vault_dir):
    huge = orjson.dumps({"resourceType": "Binary", "id": "scan", "contentType": "image/png",
                         "data": "QUJD" * (50 * 1024 * 1024 // 4)})
    assert len(huge) > 50 * 1024 * 1024
    path = tmp_path / "input.ndjson"
    path.write_bytes(good_line(1) + b"\n" + huge + b"\n" + good_line(3) + b"\n")
    result = do_import(vault_dir, keys, tmp_path / "state", path)
    message = assert_refused(result, path, "line 2", "MiB")
    assert re.search(r"\b5[0-9](\.\d+)? MiB", message), message  # says how big it is
    assert "16" in message  # and the limit
    assert_nothing_written(vault_dir)


def test_resource_over_a_lowered_limit(tmp_path, keys, vault_dir):
    """--max-resource-mb applies, and a resource under the limit is accepted."""
    big = good_line(4, text="x" * 1_500_000)
    path = tmp_path / "input.ndjson"
    path.write_bytes(five_lines_with(big, at=4))
    result = do_import(vault_dir, keys, tmp_path / "state", path, extra=("--max-resource-mb", "1"))
    assert_refused(result, path, "line 4", "MiB")
    assert_nothing_written(vault_dir)
    ok = do_import(vault_dir, keys, tmp_path / "state", path, extra=("--max-resource-mb", "2"))
    assert ok.returncode == 0, stderr_of(ok)
    assert len(current_state(vault_dir, keys)) == 5


def test_50_mb_resource_in_a_bundle(tmp_path, keys, vault_dir):
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": patient(1)},
        {"resource": {"resourceType": "Binary", "id": "scan", "data": "QUJD" * (50 * 1024 * 1024 // 4)}},
        {"resource": patient(3)},
    ]}
    path = tmp_path / "bundle.json"
    path.write_bytes(orjson.dumps(bundle))
    result = do_import(vault_dir, keys, tmp_path / "state", path)
    assert_refused(result, path, "entry 2", "MiB")
    assert_nothing_written(vault_dir)


@pytest.mark.parametrize("name", ["export.txt", "export.csv", "export.ndjson.lz4", "export"])
def test_unknown_extension_given_explicitly(tmp_path, keys, vault_dir, name):
    path = tmp_path / name
    path.write_bytes(five_lines_with(good_line(3)))
    result = do_import(vault_dir, keys, tmp_path / "state", path)
    assert_refused(result, path, None, ("not a FHIR file", "extension", ".ndjson"))
    assert_nothing_written(vault_dir)


def test_unknown_files_in_a_folder_are_skipped(tmp_path, keys, vault_dir):
    """The counterpart: in a folder, files that are not FHIR are passed over, not imported."""
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "patients.ndjson").write_bytes(five_lines_with(good_line(3)))
    (folder / "README.txt").write_bytes(b"this is not FHIR\n")
    (folder / "notes.csv").write_bytes(b"a,b\n1,2\n")
    result = do_import(vault_dir, keys, tmp_path / "state", folder)
    assert result.returncode == 0, stderr_of(result)
    assert sorted(current_state(vault_dir, keys)) == [f"Patient/p{i}" for i in range(1, 6)]


def test_missing_file(tmp_path, keys, vault_dir):
    path = tmp_path / "nowhere.ndjson"
    result = do_import(vault_dir, keys, tmp_path / "state", path)
    assert_refused(result, path, None, ("no such file", "not found", "does not exist"))
    assert_nothing_written(vault_dir)


# --- compressed ndjson ---------------------------------------------------------------------------


def _compress(kind: str, data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=1) if kind == "gz" else zstandard.ZstdCompressor(level=1).compress(data)


@pytest.mark.parametrize("kind", ["gz", "zst"])
@pytest.mark.parametrize("case", ["malformed-truncated", "no-id", "invalid-utf8-in-value", "json-array"])
def test_bad_line_in_compressed_ndjson(tmp_path, keys, vault_dir, kind, case):
    bad, what = BAD_LINES[case]
    path = tmp_path / f"input.ndjson.{kind}"
    path.write_bytes(_compress(kind, five_lines_with(bad, at=3)))
    result = do_import(vault_dir, keys, tmp_path / "state", path)
    assert_refused(result, path, "line 3", *what)
    assert_nothing_written(vault_dir)


@pytest.mark.parametrize("kind", ["gz", "zst"])
def test_corrupt_compressed_file(tmp_path, keys, vault_dir, kind):
    data = bytearray(_compress(kind, b"".join(good_line(i, text="y" * i) + b"\n" for i in range(2000))))
    data[len(data) // 2: len(data) // 2 + 16] = b"\x00" * 16
    path = tmp_path / f"input.ndjson.{kind}"
    path.write_bytes(bytes(data))
    result = do_import(vault_dir, keys, tmp_path / "state", path)
    assert_refused(result, path, None, ("decompress", "corrupt", "damaged", "CRC", "malformed"))
    assert_nothing_written(vault_dir)


def _filler(count: int, rnd: random.Random, start: int = 0) -> list[bytes]:
    return [orjson.dumps({"resourceType": "Observation", "id": f"o{start + i}", "status": "final",
                          "note": [{"text": "z" * rnd.randrange(200, 1800)}]})
            for i in range(count)]


@pytest.mark.parametrize("kind", ["gz", "zst"])
def test_bad_line_after_the_first_decompressed_block(tmp_path, keys, vault_dir, kind):
    """Compressed files are cut into 8 MB blocks after decompression: the line number
    counts the lines of every earlier block."""
    rnd = random.Random(7)
    lines = _filler(20_000, rnd)  # ~20 MB of text, so 2-3 blocks
    text_before = 0
    bad_at = None
    for index, line in enumerate(lines):
        text_before += len(line) + 1
        if text_before > BLOCK + BLOCK // 2:
            bad_at = index + 1  # 0-based index of the bad line
            break
    lines[bad_at] = b'{"resourceType":"Observation","id":"o%d","status":"final"' % bad_at
    path = tmp_path / f"export.ndjson.{kind}"
    path.write_bytes(_compress(kind, b"".join(line + b"\n" for line in lines)))
    result = do_import(vault_dir, keys, tmp_path / "state", path)
    assert_refused(result, path, f"line {bad_at + 1}", "malformed JSON")
    assert_nothing_written(vault_dir)


# --- a bad line deep in a big plain file (parallel import, byte-range blocks) ------------------


@pytest.fixture(scope="module")
def big_ndjson() -> tuple[bytes, list[int]]:
    """~45 MB of ndjson (so the import runs in 2 worker processes on 8 MB byte ranges),
    with some blank lines and CRLF ends; and the offsets where the blocks start."""
    rnd = random.Random(2024)
    out = bytearray()
    n = 0
    while len(out) < 45_000_000:
        n += 1
        roll = rnd.random()
        if roll < 0.01:
            out += b"\n"
        line = b'{"resourceType":"Observation","id":"o%d","status":"final","note":[{"text":"%s"}]}' % (
            n, b"x" * rnd.randrange(100, 900))
        out += line + (b"\r\n" if roll > 0.98 else b"\n")
    starts = [0]
    while True:
        newline = out.find(b"\n", starts[-1] + BLOCK)
        if newline < 0 or newline + 1 >= len(out):
            break
        starts.append(newline + 1)
    assert len(starts) >= 5
    return bytes(out), starts


def _line_bounds(data: bytes, start: int) -> tuple[int, int]:
    """(start, end) of the line that starts at `start`, end excluding its newline/CR."""
    end = data.index(b"\n", start)
    if data[end - 1:end] == b"\r":
        end -= 1
    return start, end


def _break_line(data: bytes, start: int, end: int) -> bytes:
    """The same bytes with the line [start, end) made malformed, length unchanged (so
    the block boundaries do not move): its closing brace becomes a space."""
    assert data[end - 1:end] == b"}" and data[start:start + 1] == b"{"
    return data[:end - 1] + b" " + data[end:]


@pytest.mark.parametrize("where", ["first-line-of-block-4", "last-line-of-block-3", "last-line-of-file"])
def test_bad_line_deep_in_a_big_file(tmp_path, keys, vault_dir, big_ndjson, where):
    data, starts = big_ndjson
    if where == "first-line-of-block-4":
        start, end = _line_bounds(data, starts[3])
    elif where == "last-line-of-block-3":
        before = data.rfind(b"\n", 0, starts[3] - 1) + 1
        if data[before:starts[3]].strip() == b"":  # a blank line: take the one before
            before = data.rfind(b"\n", 0, before - 1) + 1
        start, end = _line_bounds(data, before)
    else:
        data = data.rstrip(b"\r\n")  # no final newline
        start = data.rfind(b"\n") + 1
        end = len(data)
    broken = _break_line(data, start, end)
    expected_line = broken.count(b"\n", 0, start) + 1
    assert expected_line > 40_000
    path = tmp_path / "big.ndjson"
    path.write_bytes(broken)
    assert path.stat().st_size > 40 * 1024 * 1024
    result = do_import(vault_dir, keys, tmp_path / "state", path)
    assert_refused(result, path, f"line {expected_line}", "malformed JSON")
    assert_nothing_written(vault_dir)


# --- Bundles and JSON documents ------------------------------------------------------------------


def entry(full_url: str, resource: dict, method: str = "POST") -> dict:
    url = resource.get("resourceType", "Patient") if method == "POST" else \
        f"{resource.get('resourceType')}/{resource.get('id')}"
    return {"fullUrl": full_url, "resource": resource, "request": {"method": method, "url": url}}


def bundle(*entries: dict, kind: str = "transaction") -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


GOOD_FIRST = entry("urn:uuid:11111111-1111-4111-8111-111111111111",
                   {"resourceType": "Patient", "name": [{"family": "Martin"}]})
GOOD_LAST = entry("urn:uuid:33333333-3333-4333-8333-333333333333",
                  {"resourceType": "Observation", "status": "final",
                   "subject": {"reference": "urn:uuid:11111111-1111-4111-8111-111111111111"}})
DANGLING = "urn:uuid:deadbeef-0000-4000-8000-000000000000"

BAD_BUNDLES = {
    "dangling-urn": (entry("urn:uuid:22222222-2222-4222-8222-222222222222",
                           {"resourceType": "Encounter", "status": "finished",
                            "subject": {"reference": DANGLING}}), (DANGLING,)),
    "no-resourceType": (entry("urn:uuid:22222222-2222-4222-8222-222222222222",
                              {"status": "finished"}), ("resourceType",)),
    "no-id": (entry("http://his.example/fhir/Encounter", {"resourceType": "Encounter"}), ("id",)),
    "id-with-slash": (entry("http://his.example/fhir/Encounter/a/b",
                            {"resourceType": "Encounter", "id": "a/b"}, method="PUT"), ("id",)),
    "id-not-a-string": (entry("http://his.example/fhir/Encounter/7",
                              {"resourceType": "Encounter", "id": 7}), ("id",)),
    "entry-not-an-object": ("Patient/x", ("entry",)),
    "resource-is-a-list": ({"fullUrl": "http://his.example/fhir/Patient/y",
                            "resource": [{"resourceType": "Patient", "id": "y"}],
                            "request": {"method": "PUT", "url": "Patient/y"}},
                           (("resource", "resourceType", "object"),)),
    "delete-with-a-search-url": ({"request": {"method": "DELETE", "url": "Patient?name=x"}},
                                 ("DELETE",)),
}


@pytest.mark.parametrize("case", sorted(BAD_BUNDLES))
def test_bad_bundle_entry_is_named(tmp_path, keys, vault_dir, case):
    bad, what = BAD_BUNDLES[case]
    path = tmp_path / "patient.json"
    path.write_bytes(orjson.dumps(bundle(GOOD_FIRST, bad, GOOD_LAST), option=orjson.OPT_INDENT_2))
    result = do_import(vault_dir, keys, tmp_path / "state", path)
    assert_refused(result, path, "entry 2", *what)
    assert_nothing_written(vault_dir)


def test_dangling_reference_in_a_second_bundle(tmp_path, keys, vault_dir):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "a.json").write_bytes(orjson.dumps(bundle(GOOD_FIRST, GOOD_LAST)))
    bad = folder / "b.json"
    bad.write_bytes(orjson.dumps(bundle(
        entry("urn:uuid:44444444-4444-4444-8444-444444444444", {"resourceType": "Patient"}),
        entry("urn:uuid:55555555-5555-4555-8555-555555555555", {"resourceType": "Patient"}),
        entry("urn:uuid:66666666-6666-4666-8666-666666666666",
              {"resourceType": "Encounter", "subject": {"reference": DANGLING}}))))
    result = do_import(vault_dir, keys, tmp_path / "state", folder)
    assert_refused(result, bad, "entry 3", DANGLING)
    assert_nothing_written(vault_dir)


def test_reference_to_another_bundle_of_the_import_is_not_dangling(tmp_path, keys, vault_dir):
    """The counterpart: a urn:uuid defined in another file of the same import resolves,
    whichever file comes first."""
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "b-patient.json").write_bytes(orjson.dumps(bundle(GOOD_FIRST)))
    (folder / "a-observation.json").write_bytes(orjson.dumps(bundle(GOOD_LAST)))
    result = do_import(vault_dir, keys, tmp_path / "state", folder)
    assert result.returncode == 0, stderr_of(result)
    state = current_state(vault_dir, keys)
    observation = orjson.loads(state["Observation/33333333-3333-4333-8333-333333333333"])
    assert observation["subject"]["reference"] == "Patient/11111111-1111-4111-8111-111111111111"
    # imported alone (into another vault), the same file is refused
    from releve.vault.store import LocalVault

    other = tmp_path / "other-vault"
    LocalVault.init(other, [keys.recipient], [str(keys.public_key)])
    alone = folder / "a-observation.json"
    result = do_import(other, keys, tmp_path / "state2", alone)
    assert_refused(result, alone, "entry 1", "urn:uuid:11111111-1111-4111-8111-111111111111")
    assert_nothing_written(other)


def test_malformed_json_document_names_the_line(tmp_path, keys, vault_dir):
    path = tmp_path / "bundle.json"
    path.write_bytes(b'{\n  "resourceType": "Bundle",\n  "type": "collection",\n  "entry": [\n'
                     b'    {"resource": {"resourceType": "Patient", "id": "a"}},\n'
                     b'    {"resource": {"resourceType": "Patient", "id": "b"},\n'
                     b'  ]\n}\n')
    result = do_import(vault_dir, keys, tmp_path / "state", path)
    message = assert_refused(result, path, None, "malformed JSON")
    assert re.search(r"\bline 7\b", message), message
    assert_nothing_written(vault_dir)


def test_invalid_utf8_in_json_document_names_the_line(tmp_path, keys, vault_dir):
    path = tmp_path / "patient.json"
    path.write_bytes(b'{\n  "resourceType": "Patient",\n  "id": "x",\n  "gender": "\xff"\n}\n')
    result = do_import(vault_dir, keys, tmp_path / "state", path)
    message = assert_refused(result, path, None, "UTF-8")
    assert_nothing_written(vault_dir)
    assert re.search(r"\bline 4\b", message), message


@pytest.mark.parametrize("document", [b'[{"resourceType": "Patient", "id": "x"}]', b'{"id": "x"}',
                                      b'"Patient"'])
def test_json_document_that_is_not_a_resource(tmp_path, keys, vault_dir, document):
    path = tmp_path / "thing.json"
    path.write_bytes(document)
    result = do_import(vault_dir, keys, tmp_path / "state", path)
    assert_refused(result, path, None, "resourceType")
    assert_nothing_written(vault_dir)


# --- the error message is the input's text, shown as is ---------------------------------------


@pytest.mark.parametrize("bad_id", ["[red]x", "[/x]"])
def test_error_text_from_the_input_is_printed_verbatim(tmp_path, keys, vault_dir, bad_id):
    folder = tmp_path / "[bold]export"
    folder.mkdir()
    path = folder / "input.ndjson"
    path.write_bytes(five_lines_with(orjson.dumps({"resourceType": "Patient", "id": bad_id})))
    result = do_import(vault_dir, keys, tmp_path / "state", path)
    assert_refused(result, path, "line 3", bad_id)
    assert_nothing_written(vault_dir)


# --- after a failure ------------------------------------------------------------------------------


def test_good_import_after_a_failed_one(tmp_path, keys, vault_dir):
    state = tmp_path / "state"
    bad = tmp_path / "bad.ndjson"
    bad.write_bytes(five_lines_with(b'{"resourceType":"Patient","id":"p3",', at=3))
    assert do_import(vault_dir, keys, state, bad).returncode != 0
    assert_nothing_written(vault_dir)
    good = tmp_path / "good.ndjson"
    good.write_bytes(five_lines_with(good_line(3, active=True)))
    result = do_import(vault_dir, keys, state, good)
    assert result.returncode == 0, stderr_of(result)
    assert "segment 1" in result.stdout.decode() and "5 put" in result.stdout.decode()
    expected = {f"Patient/p{i}": line for i, line in
                enumerate(good.read_bytes().splitlines(), start=1)}
    assert current_state(vault_dir, keys) == expected
    assert run_releve("vault", "verify", vault_dir, "--identity", keys.identity).returncode == 0


def test_failed_import_leaves_no_trace_in_the_writer_state(tmp_path, keys, vault_dir):
    """A failure in a late block, after earlier blocks changed resources, must not make the
    writer believe those changes were written: importing them for real writes them."""
    state = tmp_path / "state"
    base = tmp_path / "base.ndjson"
    base.write_bytes(b"".join(good_line(i) + b"\n" for i in range(1, 6)))
    assert do_import(vault_dir, keys, state, base).returncode == 0
    before = {name: (vault_dir / "segments" / name).read_bytes() for name in segment_files(vault_dir)}
    assert sorted(before) == ["0000000001.age", "0000000001.age.minisig"]

    changed = good_line(1, active=False)
    rnd = random.Random(3)
    lines = [changed, *_filler(14_000, rnd), b'{"resourceType":"Patient","id":"p2"']  # ~14 MB
    failing = tmp_path / "failing.ndjson.zst"
    failing.write_bytes(_compress("zst", b"".join(line + b"\n" for line in lines)))
    result = do_import(vault_dir, keys, state, failing)
    assert_refused(result, failing, f"line {len(lines)}", "malformed JSON")
    after = {name: (vault_dir / "segments" / name).read_bytes() for name in segment_files(vault_dir)}
    assert after == before
    assert run_releve("vault", "verify", vault_dir, check=False).returncode == 0

    fix = tmp_path / "fix.ndjson"
    fix.write_bytes(changed + b"\n")
    result = do_import(vault_dir, keys, state, fix)
    assert result.returncode == 0, stderr_of(result)
    assert "segment 2" in result.stdout.decode() and "1 put" in result.stdout.decode()
    current = current_state(vault_dir, keys)
    assert sorted(current) == [f"Patient/p{i}" for i in range(1, 6)]
    assert current["Patient/p1"] == changed
