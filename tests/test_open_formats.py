"""The vault's formats, checked with the real Debian tools and the real CLI.

A hospital must be able to read its own data without Relève: `age -d | zstd -d` gives
the plaintext, `minisign -V` checks every segment and prints its signed descriptor,
`sha256sum` follows the hash chain. Keys made by `age-keygen` and `minisign -G -W`
work with Relève, and Relève's keys work with them. The import side is checked end to
end on every input format and on the Synthea data: what `vault cat` gives back is
exactly what went in, references resolved, unchanged resources never written twice.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import stat
import subprocess
from pathlib import Path

import orjson
import pytest
import simplejson

from conftest import Keys, run_releve

AGE_RECIPIENT_PREFIX = "age1"


# --- helpers ---------------------------------------------------------------------------------


def tool(*args: str | Path, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run one of the standard Debian tools (age, zstd, minisign, sha256sum...)."""
    result = subprocess.run([str(a) for a in args], capture_output=True, input=input,
                            timeout=120, stdin=None if input is not None else subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({result.returncode}):\n"
                             f"{result.stdout.decode(errors='replace')}\n"
                             f"{result.stderr.decode(errors='replace')}")
    return result


def segment(vault: Path, seq: int) -> Path:
    return vault / "segments" / f"{seq:010d}.age"


def segment_numbers(vault: Path) -> list[int]:
    return sorted(int(p.name[:10]) for p in (vault / "segments").glob("*.age"))


def sha256sum(path: Path) -> str:
    """The hash as Debian's sha256sum prints it."""
    out = tool("sha256sum", path).stdout.decode()
    return out.split()[0]


def minisign_descriptor(public_key: Path, seg: Path) -> dict:
    """Verify a segment with Debian's minisign; return its trusted comment, parsed."""
    result = tool("minisign", "-V", "-p", public_key, "-m", seg)
    out = result.stdout.decode()
    assert "Signature and comment signature verified" in out
    lines = [line for line in out.splitlines() if line.startswith("Trusted comment: ")]
    assert len(lines) == 1, out
    return json.loads(lines[0][len("Trusted comment: "):])


def age_plaintext(identity: Path, seg: Path) -> list[bytes]:
    """`age -d -i IDENTITY SEGMENT | zstd -d`, as lines."""
    compressed = tool("age", "-d", "-i", identity, seg).stdout
    plain = tool("zstd", "-d", "-c", input=compressed).stdout
    assert plain.endswith(b"\n")
    return plain.splitlines()


def key_of(resource: dict) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def cat_state(vault: Path, identity: Path) -> dict[str, dict]:
    """`releve vault cat` (the current state), parsed; every key appears once."""
    out = run_releve("vault", "cat", vault, "--identity", identity).stdout
    state: dict[str, dict] = {}
    for line in out.splitlines():
        resource = json.loads(line)
        key = key_of(resource)
        assert key not in state, f"{key} twice in the current state"
        state[key] = resource
    return state


def cat_segment(vault: Path, identity: Path, seq: int) -> tuple[dict, list[dict]]:
    """`releve vault cat --segment N`: (header, records)."""
    out = run_releve("vault", "cat", vault, "--identity", identity, "--segment", seq).stdout
    lines = out.splitlines()
    return json.loads(lines[0])["segment"], [json.loads(line) for line in lines[1:]]


def do_import(vault: Path, keys: Keys, state: Path, *paths: Path, full: bool = False,
              check: bool = True) -> subprocess.CompletedProcess:
    extra = ["--full"] if full else []
    return run_releve("import", "--vault", vault, "--signing-key", keys.signing_key,
                      "--state", state, *extra, *paths, check=check)


def write_ndjson(path: Path, resources: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in resources),
                    encoding="utf-8")
    return path


def write_json(path: Path, document: dict, indent: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=indent, ensure_ascii=False), encoding="utf-8")
    return path


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def references(value) -> list[str]:
    """Every `reference` string anywhere in a resource."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                found.append(item)
            else:
                found.extend(references(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(references(item))
    return found


def replace_references(value, mapping: dict[str, str]):
    if isinstance(value, dict):
        return {k: (mapping.get(v, v) if k == "reference" and isinstance(v, str)
                    else replace_references(v, mapping)) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_references(v, mapping) for v in value]
    return value


def new_vault(tmp_path: Path, keys: Keys, name: str = "vault", interval: int = 50) -> Path:
    path = tmp_path / name
    run_releve("vault", "init", path, "--recipient", keys.recipient, "--signer", keys.public_key,
               "--checkpoint-interval", interval)
    return path


# --- small clinical data -------------------------------------------------------------------

PATIENT_1 = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Lefèvre", "given": ["Zoé"]}],
             "gender": "female", "birthDate": "1948-03-02"}
PATIENT_2 = {"resourceType": "Patient", "id": "p2", "name": [{"family": "Nguyen", "given": ["Bao"]}],
             "gender": "male", "birthDate": "1971-11-30"}
ALLERGY_1 = {"resourceType": "AllergyIntolerance", "id": "a1", "patient": {"reference": "Patient/p1"},
             "code": {"coding": [{"system": "http://snomed.info/sct", "code": "91936005",
                                  "display": "Allergy to penicillin"}]}}
OBSERVATION_1 = {"resourceType": "Observation", "id": "o1", "status": "final",
                 "subject": {"reference": "Patient/p2"},
                 "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]},
                 "valueQuantity": {"value": 6.2, "unit": "mmol/L"}}

UUID_PATIENT = "7e0b5c2a-3f0e-4c1b-9a55-0b6a7d1c2e01"
UUID_ENCOUNTER = "7e0b5c2a-3f0e-4c1b-9a55-0b6a7d1c2e02"
UUID_OBSERVATION = "7e0b5c2a-3f0e-4c1b-9a55-0b6a7d1c2e03"


def transaction_bundle() -> dict:
    """A transaction Bundle the way HIS exports and Synthea write them: urn:uuid fullUrls,
    one resource without id (it takes its urn's uuid), one PUT whose id is in the url."""
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f"urn:uuid:{UUID_PATIENT}",
         "resource": {"resourceType": "Patient", "id": "tp1", "name": [{"family": "Roux"}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": f"urn:uuid:{UUID_ENCOUNTER}",
         "resource": {"resourceType": "Encounter", "status": "in-progress",
                      "subject": {"reference": f"urn:uuid:{UUID_PATIENT}"}},
         "request": {"method": "POST", "url": "Encounter"}},
        {"fullUrl": f"urn:uuid:{UUID_OBSERVATION}",
         "resource": {"resourceType": "Observation", "id": "to1", "status": "final",
                      "subject": {"reference": f"urn:uuid:{UUID_PATIENT}"},
                      "encounter": {"reference": f"urn:uuid:{UUID_ENCOUNTER}"},
                      "valueString": "stable"},
         "request": {"method": "PUT", "url": "Observation/to1"}},
        {"resource": {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
                      "subject": {"reference": f"urn:uuid:{UUID_PATIENT}"}},
         "request": {"method": "PUT", "url": "MedicationRequest/tm1"}},
    ]}


TRANSACTION_EXPECTED = {
    "Patient/tp1": {"resourceType": "Patient", "id": "tp1", "name": [{"family": "Roux"}]},
    f"Encounter/{UUID_ENCOUNTER}": {"resourceType": "Encounter", "id": UUID_ENCOUNTER,
                                    "status": "in-progress", "subject": {"reference": "Patient/tp1"}},
    "Observation/to1": {"resourceType": "Observation", "id": "to1", "status": "final",
                        "subject": {"reference": "Patient/tp1"},
                        "encounter": {"reference": f"Encounter/{UUID_ENCOUNTER}"},
                        "valueString": "stable"},
    "MedicationRequest/tm1": {"resourceType": "MedicationRequest", "id": "tm1", "status": "active",
                              "intent": "order", "subject": {"reference": "Patient/tp1"}},
}

SEARCH_PATIENT = {"resourceType": "Patient", "id": "s1", "name": [{"family": "Blanc"}]}
SEARCH_CONDITION = {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/s1"},
                    "code": {"text": "Diabète de type 2"}}


def searchset_bundle() -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "total": 1, "entry": [
        {"fullUrl": "https://his.example.org/fhir/Patient/s1", "resource": SEARCH_PATIENT,
         "search": {"mode": "match"}},
        {"fullUrl": "https://his.example.org/fhir/Condition/c1", "resource": SEARCH_CONDITION,
         "search": {"mode": "include"}},
        {"resource": {"resourceType": "OperationOutcome", "id": "warn",
                      "issue": [{"severity": "warning", "code": "informational"}]},
         "search": {"mode": "outcome"}},
    ]}


SINGLE = {"resourceType": "Practitioner", "id": "dr-house", "name": [{"family": "Mercier"}]}

NDJSON_RESOURCES = [PATIENT_1, PATIENT_2, ALLERGY_1, OBSERVATION_1]


def make_input(kind: str, folder: Path) -> tuple[Path, dict[str, dict]]:
    """One input of the given kind in `folder`; the path to import and the resources expected."""
    folder.mkdir(parents=True, exist_ok=True)
    expected_ndjson = {key_of(r): r for r in NDJSON_RESOURCES}
    if kind == "ndjson":
        path = write_ndjson(folder / "export.ndjson", NDJSON_RESOURCES)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("\n")  # a trailing blank line is no resource
        return path, expected_ndjson
    if kind == "ndjson.gz":
        plain = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in NDJSON_RESOURCES).encode()
        path = folder / "export.ndjson.gz"
        with gzip.open(path, "wb") as handle:
            handle.write(plain)
        return path, expected_ndjson
    if kind == "ndjson.zst":
        # two frames made by the zstd CLI, concatenated (as `cat a.zst b.zst` would)
        first = write_ndjson(folder / "part1.tmp", NDJSON_RESOURCES[:2])
        second = write_ndjson(folder / "part2.tmp", NDJSON_RESOURCES[2:])
        tool("zstd", "-q", "-f", first, "-o", folder / "part1.zst")
        tool("zstd", "-q", "-f", second, "-o", folder / "part2.zst")
        path = folder / "export.ndjson.zst"
        path.write_bytes((folder / "part1.zst").read_bytes() + (folder / "part2.zst").read_bytes())
        for leftover in ("part1.tmp", "part2.tmp", "part1.zst", "part2.zst"):
            (folder / leftover).unlink()
        assert tool("zstd", "-d", "-c", path).stdout.count(b"\n") == len(NDJSON_RESOURCES)
        return path, expected_ndjson
    if kind == "transaction":
        return write_json(folder / "bundle.json", transaction_bundle(), indent=2), dict(TRANSACTION_EXPECTED)
    if kind == "searchset":
        return (write_json(folder / "search.json", searchset_bundle()),
                {"Patient/s1": SEARCH_PATIENT, "Condition/c1": SEARCH_CONDITION})
    if kind == "resource":
        return write_json(folder / "practitioner.json", SINGLE, indent=4), {"Practitioner/dr-house": SINGLE}
    raise ValueError(kind)


# --- keys and the plaintext, with age and zstd -------------------------------------------


def test_station_key_from_cli_decrypts_with_age_and_zstd(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    result = run_releve("keys", "station", "urgences", "--out", keys_dir)
    recipient = result.stdout.decode().strip()
    assert recipient.startswith(AGE_RECIPIENT_PREFIX) and len(recipient.splitlines()) == 1
    identity = keys_dir / "urgences.key"
    assert stat.S_IMODE(identity.stat().st_mode) == 0o600
    # Debian's age-keygen derives the same recipient from our identity file
    assert tool("age-keygen", "-y", identity).stdout.decode().strip() == recipient

    signer = run_releve("keys", "signer", "capture", "--out", keys_dir)
    signing_key, public_key = keys_dir / "capture.minisign.key", keys_dir / "capture.pub"
    assert public_key.read_text().splitlines()[1] == signer.stdout.decode().strip()
    vault = tmp_path / "vault"
    run_releve("vault", "init", vault, "--recipient", recipient, "--signer", public_key)
    data = write_ndjson(tmp_path / "in" / "export.ndjson", NDJSON_RESOURCES)
    run_releve("import", "--vault", vault, "--signing-key", signing_key, "--state", tmp_path / "state", data)

    lines = age_plaintext(identity, segment(vault, 1))
    header = json.loads(lines[0])
    assert list(header) == ["segment"]
    config = json.loads((vault / "config.json").read_bytes())
    seg = header["segment"]
    assert seg["seq"] == 1
    assert seg["vault"] == config["vault_id"]
    assert seg["puts"] == len(NDJSON_RESOURCES) and seg["deletes"] == 0
    assert seg["kind"] == "delta"
    assert seg["prev"] == hashlib.sha256((vault / "config.json").read_bytes()).hexdigest()
    assert seg["types"]["Patient"] == {"put": 2, "delete": 0}
    records = [json.loads(line) for line in lines[1:]]
    assert sorted(records, key=key_of) == sorted(NDJSON_RESOURCES, key=key_of)
    # non-ASCII survives byte for byte as UTF-8
    assert "Lefèvre".encode() in b"\n".join(lines)

    # another identity cannot open it
    other = tmp_path / "other.key"
    tool("age-keygen", "-o", other)
    refused = tool("age", "-d", "-i", other, segment(vault, 1), check=False)
    assert refused.returncode != 0


def test_age_keygen_identity_is_a_station_identity(tmp_path: Path, keys: Keys) -> None:
    identity = tmp_path / "station-age.key"
    tool("age-keygen", "-o", identity)
    recipient = tool("age-keygen", "-y", identity).stdout.decode().strip()
    assert recipient.startswith(AGE_RECIPIENT_PREFIX)
    vault = tmp_path / "vault"
    run_releve("vault", "init", vault, "--recipient", recipient, "--signer", keys.public_key)
    data, expected = make_input("transaction", tmp_path / "in")
    do_import(vault, keys, tmp_path / "state", data)

    assert cat_state(vault, identity) == expected
    verified = run_releve("vault", "verify", vault, "--identity", identity).stdout.decode()
    assert verified.startswith("OK") and f"{len(expected)} records decrypted and checked" in verified
    # and the Relève-made station key of the fixture is not a recipient of this vault
    refused = run_releve("vault", "cat", vault, "--identity", keys.identity, check=False)
    assert refused.returncode == 1 and b"cannot decrypt" in refused.stderr


# --- signatures, with minisign ------------------------------------------------------------


def test_signer_key_from_cli_and_minisign_verifies_segments(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    printed = run_releve("keys", "signer", "capture", "--out", keys_dir).stdout.decode().strip()
    signing_key, public_key = keys_dir / "capture.minisign.key", keys_dir / "capture.pub"
    assert stat.S_IMODE(signing_key.stat().st_mode) == 0o600
    assert public_key.read_text().startswith("untrusted comment: ")
    assert public_key.read_text().splitlines()[1] == printed
    recipient = run_releve("keys", "station", "st", "--out", keys_dir).stdout.decode().strip()
    keys = Keys(keys_dir, keys_dir / "st.key", recipient, signing_key, public_key)
    vault = new_vault(tmp_path, keys)
    do_import(vault, keys, tmp_path / "state", write_ndjson(tmp_path / "a.ndjson", NDJSON_RESOURCES))
    do_import(vault, keys, tmp_path / "state", write_ndjson(tmp_path / "b.ndjson", [SINGLE]))
    vault_id = json.loads((vault / "config.json").read_bytes())["vault_id"]

    for seq, puts in ((1, len(NDJSON_RESOURCES)), (2, 1)):
        seg = segment(vault, seq)
        assert (seg.parent / (seg.name + ".minisig")).exists()
        descriptor = minisign_descriptor(public_key, seg)
        assert descriptor["releve"] == 1
        assert (descriptor["vault"], descriptor["seq"], descriptor["kind"]) == (vault_id, seq, "delta")
        assert (descriptor["puts"], descriptor["deletes"]) == (puts, 0)
        # the trusted comment is the line of the .minisig file, word for word
        sig_lines = (seg.parent / (seg.name + ".minisig")).read_text().splitlines()
        assert json.loads(sig_lines[2][len("trusted comment: "):]) == descriptor
        # and the plaintext header repeats it
        header = json.loads(age_plaintext(keys.identity, seg)[0])["segment"]
        for field in ("vault", "seq", "prev", "kind", "time", "source", "puts", "deletes"):
            assert header[field] == descriptor[field]

    # minisign rejects a segment altered by one byte
    altered = tmp_path / "altered.age"
    data = bytearray(segment(vault, 1).read_bytes())
    data[len(data) // 2] ^= 1
    altered.write_bytes(bytes(data))
    shutil.copy(segment(vault, 1).with_name(segment(vault, 1).name + ".minisig"),
                tmp_path / "altered.age.minisig")
    assert tool("minisign", "-V", "-p", public_key, "-m", altered, check=False).returncode != 0


def test_minisign_signs_with_our_secret_key(tmp_path: Path, keys: Keys) -> None:
    from releve.vault.minisign import MinisignError, PublicKey, Signature

    document = tmp_path / "note.txt"
    document.write_bytes(b"transmissions: patient stable, 08:00\n")
    # our key is unencrypted: minisign signs without asking anything (stdin is empty)
    tool("minisign", "-S", "-s", keys.signing_key, "-m", document, "-t", "relève test", input=b"")
    sig_path = tmp_path / "note.txt.minisig"
    assert sig_path.exists()
    out = tool("minisign", "-V", "-p", keys.public_key, "-m", document).stdout.decode()
    assert "Trusted comment: relève test" in out

    public = PublicKey.from_file_text(keys.public_key.read_text())
    signature = Signature.parse(sig_path.read_bytes())
    assert signature.trusted_comment == "relève test"
    assert signature.key_id == public.key_id
    signature.verify(public, data=document.read_bytes())
    with pytest.raises(MinisignError):
        signature.verify(public, data=document.read_bytes() + b"x")


def test_minisign_generated_unencrypted_key_signs_imports(tmp_path: Path, keys: Keys) -> None:
    pub, sec = tmp_path / "his.pub", tmp_path / "his.key"
    tool("minisign", "-G", "-W", "-p", pub, "-s", sec, input=b"")
    vault = tmp_path / "vault"
    run_releve("vault", "init", vault, "--recipient", keys.recipient, "--signer", pub)
    data, expected = make_input("ndjson", tmp_path / "in")
    run_releve("import", "--vault", vault, "--signing-key", sec, "--state", tmp_path / "state", data)
    assert minisign_descriptor(pub, segment(vault, 1))["puts"] == len(expected)
    assert cat_state(vault, keys.identity) == expected


def test_password_protected_minisign_key_is_refused_clearly(tmp_path: Path, keys: Keys) -> None:
    pub, sec = tmp_path / "locked.pub", tmp_path / "locked.key"
    tool("minisign", "-G", "-p", pub, "-s", sec, input=b"secret-pw\nsecret-pw\n")
    assert b"encrypted" in sec.read_bytes()
    vault = tmp_path / "vault"
    run_releve("vault", "init", vault, "--recipient", keys.recipient, "--signer", pub)
    data, _ = make_input("ndjson", tmp_path / "in")
    result = run_releve("import", "--vault", vault, "--signing-key", sec, "--state",
                        tmp_path / "state", data, check=False, input=b"secret-pw\n")
    stderr = result.stderr.decode()
    assert result.returncode == 1
    assert "password-protected" in stderr and "minisign -C -W" in stderr
    assert "Traceback" not in stderr
    assert segment_numbers(vault) == []

    # the advice works: once minisign has removed the password, the key signs imports
    tool("minisign", "-C", "-W", "-s", sec, input=b"secret-pw\n")
    run_releve("import", "--vault", vault, "--signing-key", sec, "--state", tmp_path / "state", data)
    assert minisign_descriptor(pub, segment(vault, 1))["puts"] == len(NDJSON_RESOURCES)


def test_sha256sum_chain_from_config_through_segments(tmp_path: Path, keys: Keys) -> None:
    vault = new_vault(tmp_path, keys)
    state = tmp_path / "state"
    for number, resource in enumerate([PATIENT_1, PATIENT_2, SINGLE, {**PATIENT_1, "gender": "other"}]):
        do_import(vault, keys, state, write_ndjson(tmp_path / f"in{number}.ndjson", [resource]))
    assert segment_numbers(vault) == [1, 2, 3, 4]
    expected_prev = sha256sum(vault / "config.json")
    for seq in segment_numbers(vault):
        descriptor = minisign_descriptor(keys.public_key, segment(vault, seq))
        assert descriptor["seq"] == seq
        assert descriptor["prev"] == expected_prev, f"segment {seq} does not chain"
        expected_prev = sha256sum(segment(vault, seq))
    assert run_releve("vault", "verify", vault).stdout.decode().startswith("OK")


# --- input formats ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ndjson", "ndjson.gz", "ndjson.zst", "transaction", "searchset",
                                  "resource"])
def test_import_format(kind: str, tmp_path: Path, keys: Keys, vault_dir: Path) -> None:
    data, expected = make_input(kind, tmp_path / "in")
    result = do_import(vault_dir, keys, tmp_path / "state", data)
    assert f"{len(expected)} put, 0 deleted" in result.stdout.decode()
    state = cat_state(vault_dir, keys.identity)
    assert state == expected
    plaintext = b"\n".join(age_plaintext(keys.identity, segment(vault_dir, 1)))
    assert b"urn:uuid:" not in plaintext


def test_import_directory_mixing_every_format(tmp_path: Path, keys: Keys, vault_dir: Path) -> None:
    root = tmp_path / "export"
    expected: dict[str, dict] = {}
    # ndjson formats hold different resources here, so that each one counts
    gz_resources = [{**PATIENT_1, "id": "gz1"}, {**ALLERGY_1, "id": "gz-a1"}]
    (root / "bulk").mkdir(parents=True)
    with gzip.open(root / "bulk" / "Patient.ndjson.gz", "wb") as handle:
        handle.write("".join(json.dumps(r) + "\n" for r in gz_resources).encode())
    expected.update({key_of(r): r for r in gz_resources})
    zst_plain = write_ndjson(tmp_path / "obs.ndjson", [OBSERVATION_1, PATIENT_2])
    tool("zstd", "-q", zst_plain, "-o", root / "bulk" / "Observation.ndjson.zst")
    expected.update({key_of(r): r for r in (OBSERVATION_1, PATIENT_2)})
    write_ndjson(root / "bulk" / "more" / "Practitioner.ndjson", [SINGLE])
    expected[key_of(SINGLE)] = SINGLE
    write_json(root / "bundles" / "transaction.json", transaction_bundle(), indent=2)
    expected.update(TRANSACTION_EXPECTED)
    write_json(root / "bundles" / "search.json", searchset_bundle())
    expected.update({"Patient/s1": SEARCH_PATIENT, "Condition/c1": SEARCH_CONDITION})
    # a lone resource and another Bundle pointing, by urn:uuid, at resources of the first
    # Bundle (as Synthea's Group file does)
    write_json(root / "group.json", {"resourceType": "Group", "id": "ward-12", "type": "person",
                                     "actual": True,
                                     "member": [{"entity": {"reference": f"urn:uuid:{UUID_PATIENT}"}}]})
    expected["Group/ward-12"] = {"resourceType": "Group", "id": "ward-12", "type": "person",
                                 "actual": True, "member": [{"entity": {"reference": "Patient/tp1"}}]}
    write_json(root / "z-batch.json", {"resourceType": "Bundle", "type": "batch", "entry": [
        {"fullUrl": "urn:uuid:11111111-2222-3333-4444-555555555555",
         "resource": {"resourceType": "Flag", "id": "f1", "status": "active",
                      "subject": {"reference": f"urn:uuid:{UUID_PATIENT}"},
                      "encounter": {"reference": f"urn:uuid:{UUID_ENCOUNTER}"}},
         "request": {"method": "POST", "url": "Flag"}}]})
    expected["Flag/f1"] = {"resourceType": "Flag", "id": "f1", "status": "active",
                           "subject": {"reference": "Patient/tp1"},
                           "encounter": {"reference": f"Encounter/{UUID_ENCOUNTER}"}}
    (root / "README.txt").write_text("not FHIR, skipped\n")

    result = do_import(vault_dir, keys, tmp_path / "state", root)
    assert f"{len(expected)} put, 0 deleted" in result.stdout.decode()
    assert cat_state(vault_dir, keys.identity) == expected
    assert b"urn:uuid:" not in b"\n".join(age_plaintext(keys.identity, segment(vault_dir, 1)))
    verified = run_releve("vault", "verify", vault_dir, "--identity", keys.identity).stdout.decode()
    assert f"{len(expected)} records decrypted and checked" in verified


def test_reference_to_nothing_is_refused_and_nothing_written(tmp_path: Path, keys: Keys,
                                                              vault_dir: Path) -> None:
    bundle = transaction_bundle()
    bundle["entry"][1]["resource"]["subject"]["reference"] = "urn:uuid:00000000-dead-beef-0000-000000000000"
    data = write_json(tmp_path / "bad.json", bundle)
    result = do_import(vault_dir, keys, tmp_path / "state", data, check=False)
    assert result.returncode == 1
    assert b"urn:uuid:00000000-dead-beef-0000-000000000000" in result.stderr
    assert b"Traceback" not in result.stderr
    assert segment_numbers(vault_dir) == []


# --- Synthea ---------------------------------------------------------------------------------


def synthea_sources(folder: Path) -> list[Path]:
    """The input files in the order the import reads them."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix == ".json")


def synthea_expectation(folder: Path) -> tuple[dict[str, dict], dict[str, str]]:
    """What the current state must be after importing `folder`: the last occurrence of every
    resource, urn:uuid references replaced by Type/id. Also the urn -> Type/id map."""
    documents = [json.loads(p.read_bytes()) for p in synthea_sources(folder)]
    targets: dict[str, str] = {}
    for document in documents:
        for entry in document.get("entry", []):
            if entry.get("fullUrl", "").startswith("urn:uuid:"):
                targets[entry["fullUrl"]] = key_of(entry["resource"])
    expected: dict[str, dict] = {}
    for document in documents:
        resources = ([e["resource"] for e in document["entry"]]
                     if document["resourceType"] == "Bundle" else [document])
        for resource in resources:
            expected[key_of(resource)] = replace_references(resource, targets)
    return expected, targets


def make_synthea_keys(folder: Path) -> Keys:
    from releve.vault.keys import create_signer, create_station_identity

    identity, recipient = create_station_identity(folder, "station")
    signing_key, public_key, _ = create_signer(folder, "capture")
    return Keys(folder, identity, recipient, signing_key, public_key)


class SyntheaVault:
    def __init__(self, root: Path, keys: Keys, synthea: Path):
        self.root, self.keys, self.synthea = root, keys, synthea
        self.vault = new_vault(root, keys)
        self.state = root / "state"
        self.first = do_import(self.vault, keys, self.state, synthea)

    def copy(self, target: Path) -> tuple[Path, Path]:
        """A copy of this vault and its writer state, to change without touching this one."""
        vault, state = target / "vault", target / "state"
        shutil.copytree(self.vault, vault)
        shutil.copytree(self.state, state)
        return vault, state


@pytest.fixture(scope="module")
def synthea_vault(tmp_path_factory: pytest.TempPathFactory, synthea_dir: Path) -> SyntheaVault:
    root = tmp_path_factory.mktemp("synthea-vault")
    return SyntheaVault(root, make_synthea_keys(root / "keys"), synthea_dir)


@pytest.fixture(scope="module")
def synthea_expected(synthea_dir: Path) -> tuple[dict[str, dict], dict[str, str]]:
    return synthea_expectation(synthea_dir)


def test_synthea_every_resource_present_references_resolved(synthea_vault: SyntheaVault,
                                                            synthea_expected) -> None:
    expected, targets = synthea_expected
    assert len(expected) > 38000
    state = cat_state(synthea_vault.vault, synthea_vault.keys.identity)
    assert set(state) == set(expected)
    mismatched = [key for key in expected if state[key] != expected[key]]
    assert mismatched == []
    # no urn: reference is left anywhere, and every resolved one points into the state
    raw = run_releve("vault", "cat", synthea_vault.vault, "--identity", synthea_vault.keys.identity,
                     "--segment", 1).stdout
    assert b'"reference":"urn:' not in raw
    resolved = set(targets.values())
    for resource in state.values():
        for reference in references(resource):
            assert not reference.startswith("urn:"), reference
            if not reference.startswith("#"):
                assert reference in state, f"{key_of(resource)} points to missing {reference}"
                assert reference in resolved


def test_synthea_group_members_point_to_patients_of_other_files(synthea_vault: SyntheaVault,
                                                               synthea_dir: Path) -> None:
    group_file = next(synthea_dir.glob("groupInformation*.json"))
    group = json.loads(group_file.read_bytes())
    state = cat_state(synthea_vault.vault, synthea_vault.keys.identity)
    stored = state[key_of(group)]
    members = [m["entity"]["reference"] for m in stored["member"]]
    assert len(members) == len(group["member"]) == 100
    expected_members = ["Patient/" + m["entity"]["reference"].removeprefix("urn:uuid:")
                        for m in group["member"]]
    assert members == expected_members
    assert all(member in state for member in members)
    assert sum(1 for key in state if key.startswith("Patient/")) == 100


def test_synthea_vault_verifies_with_identity(synthea_vault: SyntheaVault, synthea_expected) -> None:
    out = run_releve("vault", "verify", synthea_vault.vault, "--identity",
                     synthea_vault.keys.identity).stdout.decode()
    descriptor = minisign_descriptor(synthea_vault.keys.public_key, segment(synthea_vault.vault, 1))
    assert out.startswith("OK") and "1 segments" in out
    assert f"{descriptor['puts']} records decrypted and checked" in out
    # one put per distinct resource: repeats inside one import are written once (the last)
    assert descriptor["puts"] == len(synthea_expected[0])


def change_three(folder: Path) -> dict[str, dict]:
    """Change a Patient, an Observation and a Condition in a copy of Synthea (resources that
    appear once); return their new versions, references resolved."""
    wanted = {"Patient": None, "Observation": None, "Condition": None}
    counts: dict[str, int] = {}
    for path in synthea_sources(folder):
        for entry in json.loads(path.read_bytes()).get("entry", []):
            key = key_of(entry["resource"])
            counts[key] = counts.get(key, 0) + 1
    changed: dict[str, dict] = {}
    path = next(p for p in synthea_sources(folder) if p.name[0].isupper())
    # numbers kept as written (1.50 stays 1.50): Relève stores them exactly, so a rewrite
    # that rounded them would change other resources of the file too
    document = simplejson.loads(path.read_bytes(), use_decimal=True)
    for entry in document["entry"]:
        resource = entry["resource"]
        rtype = resource["resourceType"]
        if rtype in wanted and wanted[rtype] is None and counts[key_of(resource)] == 1:
            resource.setdefault("meta", {})["tag"] = [{"system": "urn:test", "code": "changed"}]
            if rtype == "Patient":
                resource["birthDate"] = "1901-01-01"
            wanted[rtype] = key_of(resource)
            changed[key_of(resource)] = orjson.loads(simplejson.dumps(resource, use_decimal=True))
    assert all(wanted.values()), wanted
    path.write_text(simplejson.dumps(document, use_decimal=True))
    targets = synthea_expectation(folder)[1]
    return {key: replace_references(resource, targets) for key, resource in changed.items()}


@pytest.mark.slow
def test_synthea_reimport_writes_nothing_then_three_changes_three_puts(
        synthea_vault: SyntheaVault, tmp_path: Path) -> None:
    # Synthea holds several different versions of some Organizations and Practitioners
    # (one per patient Bundle, another in hospitalInformation): the last one wins, and
    # importing the same files again must still write nothing.
    vault, state = synthea_vault.copy(tmp_path)
    before = tree_digest(vault / "segments")
    again = do_import(vault, synthea_vault.keys, state, synthea_vault.synthea)
    assert "nothing changed" in again.stdout.decode()
    assert segment_numbers(vault) == [1]
    assert tree_digest(vault / "segments") == before

    data = tmp_path / "fhir"
    shutil.copytree(synthea_vault.synthea, data)
    changed = change_three(data)
    result = do_import(vault, synthea_vault.keys, state, data)
    assert "segment 2 (delta): 3 put, 0 deleted" in result.stdout.decode()
    assert segment_numbers(vault) == [1, 2]
    descriptor = minisign_descriptor(synthea_vault.keys.public_key, segment(vault, 2))
    assert (descriptor["seq"], descriptor["puts"], descriptor["deletes"], descriptor["kind"]) == (
        2, 3, 0, "delta")
    header, records = cat_segment(vault, synthea_vault.keys.identity, 2)
    assert (header["puts"], header["deletes"]) == (3, 0)
    assert {key_of(r): r for r in records} == changed
    state_now = cat_state(vault, synthea_vault.keys.identity)
    for key, resource in changed.items():
        assert state_now[key] == resource


# --- deletes ---------------------------------------------------------------------------------


def delete_bundle(*urls: str) -> dict:
    return {"resourceType": "Bundle", "type": "transaction",
            "entry": [{"request": {"method": "DELETE", "url": url}} for url in urls]}


def test_bundle_delete_removes_resource_and_unknown_delete_writes_nothing(
        tmp_path: Path, keys: Keys, vault_dir: Path) -> None:
    state = tmp_path / "state"
    do_import(vault_dir, keys, state, write_ndjson(tmp_path / "in.ndjson", NDJSON_RESOURCES))

    result = do_import(vault_dir, keys, state, write_json(tmp_path / "del.json", delete_bundle("Patient/p1")))
    assert "segment 2 (delta): 0 put, 1 deleted" in result.stdout.decode()
    header, records = cat_segment(vault_dir, keys.identity, 2)
    assert (header["puts"], header["deletes"]) == (0, 1)
    assert records == [{"delete": {"resourceType": "Patient", "id": "p1"}}]
    descriptor = minisign_descriptor(keys.public_key, segment(vault_dir, 2))
    assert (descriptor["puts"], descriptor["deletes"]) == (0, 1)
    expected = {key_of(r): r for r in NDJSON_RESOURCES if r is not PATIENT_1}
    assert cat_state(vault_dir, keys.identity) == expected

    before = tree_digest(vault_dir)
    for url in ("Patient/unknown", "Patient/p1"):  # never existed, already deleted
        name = url.replace("/", "-")
        result = do_import(vault_dir, keys, state, write_json(tmp_path / f"{name}.json", delete_bundle(url)))
        assert "nothing changed" in result.stdout.decode()
    assert segment_numbers(vault_dir) == [1, 2]
    assert tree_digest(vault_dir) == before
    assert cat_state(vault_dir, keys.identity) == expected


# --- checkpoints and full imports -------------------------------------------------------------


def test_automatic_checkpoint_every_interval(tmp_path: Path, keys: Keys) -> None:
    vault = new_vault(tmp_path, keys, interval=3)
    state = tmp_path / "state"
    updated = {**PATIENT_2, "birthDate": "1971-12-01"}
    steps = [
        [PATIENT_1, PATIENT_2, ALLERGY_1],
        [OBSERVATION_1, updated],                                   # an update
        None,                                                       # a delete (Bundle)
    ]
    outputs = []
    for number, step in enumerate(steps):
        if step is None:
            data = write_json(tmp_path / "delete.json", delete_bundle("AllergyIntolerance/a1"))
        else:
            data = write_ndjson(tmp_path / f"step{number}.ndjson", step)
        outputs.append(do_import(vault, keys, state, data).stdout.decode())
    assert "segment 4 (full)" not in "".join(outputs[:2])
    assert "segment 4 (full)" in outputs[2]
    assert segment_numbers(vault) == [1, 2, 3, 4]
    kinds = [minisign_descriptor(keys.public_key, segment(vault, s))["kind"] for s in (1, 2, 3, 4)]
    assert kinds == ["delta", "delta", "delta", "full"]

    expected = {key_of(r): r for r in (PATIENT_1, updated, OBSERVATION_1)}
    header, records = cat_segment(vault, keys.identity, 4)
    assert (header["kind"], header["puts"], header["deletes"]) == ("full", 3, 0)
    assert {key_of(r): r for r in records} == expected
    assert len(records) == 3
    assert cat_state(vault, keys.identity) == expected
    assert run_releve("vault", "verify", vault, "--identity", keys.identity).stdout.decode().startswith("OK")

    # the next one comes three deltas later, not before
    for number in range(3):
        resource = {**SINGLE, "id": f"dr-{number}"}
        do_import(vault, keys, state, write_ndjson(tmp_path / f"more{number}.ndjson", [resource]))
        expected[key_of(resource)] = resource
    assert segment_numbers(vault) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert minisign_descriptor(keys.public_key, segment(vault, 7))["kind"] == "delta"
    assert minisign_descriptor(keys.public_key, segment(vault, 8))["kind"] == "full"
    _, records = cat_segment(vault, keys.identity, 8)
    assert {key_of(r): r for r in records} == expected


def test_checkpoint_on_demand(tmp_path: Path, keys: Keys, vault_dir: Path) -> None:
    state = tmp_path / "state"
    do_import(vault_dir, keys, state, write_ndjson(tmp_path / "a.ndjson", NDJSON_RESOURCES))
    changed = {**OBSERVATION_1, "valueQuantity": {"value": 7.9, "unit": "mmol/L"}}
    do_import(vault_dir, keys, state, write_ndjson(tmp_path / "b.ndjson", [changed, SINGLE]))
    result = run_releve("vault", "checkpoint", "--vault", vault_dir, "--signing-key", keys.signing_key,
                        "--state", state)
    assert "checkpoint: segment 3, 5 resources" in result.stdout.decode()
    descriptor = minisign_descriptor(keys.public_key, segment(vault_dir, 3))
    assert (descriptor["kind"], descriptor["puts"], descriptor["deletes"]) == ("full", 5, 0)
    expected = {key_of(r): r for r in (PATIENT_1, PATIENT_2, ALLERGY_1, changed, SINGLE)}
    _, records = cat_segment(vault_dir, keys.identity, 3)
    assert len(records) == 5 and {key_of(r): r for r in records} == expected
    assert cat_state(vault_dir, keys.identity) == expected
    # an unchanged re-import after the checkpoint still writes nothing
    again = do_import(vault_dir, keys, state, tmp_path / "b.ndjson")
    assert "nothing changed" in again.stdout.decode()


def test_full_import_replaces_the_state(tmp_path: Path, keys: Keys, vault_dir: Path) -> None:
    state = tmp_path / "state"
    do_import(vault_dir, keys, state, write_ndjson(tmp_path / "a.ndjson", NDJSON_RESOURCES))
    updated = {**PATIENT_2, "gender": "unknown"}
    extract = write_ndjson(tmp_path / "extract.ndjson", [PATIENT_1, updated, SINGLE])
    result = do_import(vault_dir, keys, state, extract, full=True)
    assert "segment 2 (full): 3 put" in result.stdout.decode()
    assert minisign_descriptor(keys.public_key, segment(vault_dir, 2))["kind"] == "full"
    expected = {key_of(r): r for r in (PATIENT_1, updated, SINGLE)}
    state_now = cat_state(vault_dir, keys.identity)
    assert state_now == expected
    assert "AllergyIntolerance/a1" not in state_now and "Observation/o1" not in state_now
    # and the writer knows it: the same extract, as a delta, changes nothing
    assert "nothing changed" in do_import(vault_dir, keys, state, extract).stdout.decode()


# --- the writer's state ----------------------------------------------------------------------


def test_fresh_state_against_non_empty_vault_is_refused(tmp_path: Path, keys: Keys, vault_dir: Path) -> None:
    do_import(vault_dir, keys, tmp_path / "state", write_ndjson(tmp_path / "a.ndjson", NDJSON_RESOURCES))
    before = tree_digest(vault_dir)
    result = do_import(vault_dir, keys, tmp_path / "fresh", write_ndjson(tmp_path / "b.ndjson", [SINGLE]),
                       check=False)
    stderr = result.stderr.decode()
    assert result.returncode == 1
    assert "--full" in stderr and "segment 1" in stderr
    assert "Traceback" not in stderr
    assert tree_digest(vault_dir) == before


def test_full_import_with_fresh_state_works(tmp_path: Path, keys: Keys, vault_dir: Path) -> None:
    do_import(vault_dir, keys, tmp_path / "state", write_ndjson(tmp_path / "a.ndjson", NDJSON_RESOURCES))
    fresh = tmp_path / "fresh"
    extract = write_ndjson(tmp_path / "extract.ndjson", [PATIENT_1, SINGLE])
    result = do_import(vault_dir, keys, fresh, extract, full=True, check=False)
    assert result.returncode == 0, result.stderr.decode()
    assert minisign_descriptor(keys.public_key, segment(vault_dir, 2))["kind"] == "full"
    assert cat_state(vault_dir, keys.identity) == {key_of(r): r for r in (PATIENT_1, SINGLE)}
    assert "nothing changed" in do_import(vault_dir, keys, fresh, extract).stdout.decode()
