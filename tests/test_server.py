"""The vault over HTTP: `releve vault serve` as a real process, spoken to with httpx.

Reading needs a token; appending needs the writer's; and there is no way, with any
token, to delete or overwrite a segment: every such request is refused (401/403/405/409)
and leaves every byte of the vault folder as it was.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import shutil
import threading
from pathlib import Path

import httpx
import pytest

from conftest import RELEVE, Keys, run_releve
from helpers import ServerProcess, answers, free_port, start_server

WRITER = "writer-token-4f1c2a-0d9e8b7c6a5f4e3d21"
READER = "reader-token-9b3e77-1a2b3c4d5e6f7a8b90"
REFUSED = (401, 403, 405, 409)


# --- helpers ---------------------------------------------------------------------------------


def segment(vault: Path, seq: int) -> Path:
    return vault / "segments" / f"{seq:010d}.age"


def signature(vault: Path, seq: int) -> Path:
    return vault / "segments" / f"{seq:010d}.age.minisig"


def segment_numbers(vault: Path) -> list[int]:
    return sorted(int(p.name[:10]) for p in (vault / "segments").glob("*.age"))


def tree_digest(folder: Path) -> dict[str, str]:
    """Every file under `folder` (the vault: config, segments, signatures, staging, lock)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def trusted_comment(sig_path: Path) -> str:
    line = sig_path.read_text().splitlines()[2]
    assert line.startswith("trusted comment: ")
    return line[len("trusted comment: "):]


def write_ndjson(path: Path, resources: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))
    return path


def key_of(resource: dict) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def cat_state(vault: Path, identity: Path) -> dict[str, dict]:
    out = run_releve("vault", "cat", vault, "--identity", identity).stdout
    return {key_of(r): r for r in map(json.loads, out.splitlines())}


def verify(vault: Path, keys: Keys) -> str:
    out = run_releve("vault", "verify", vault, "--identity", keys.identity).stdout.decode()
    assert out.startswith("OK"), out
    return out


def patients(prefix: str, count: int) -> list[dict]:
    return [{"resourceType": "Patient", "id": f"{prefix}-{n}", "name": [{"family": f"{prefix.title()} {n}"}],
             "birthDate": f"19{50 + n}-01-0{1 + n % 9}"} for n in range(count)]


@dataclasses.dataclass
class Served:
    url: str
    vault: Path
    state: Path
    keys: Keys
    expected: dict[str, dict]
    server: ServerProcess

    def client(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@dataclasses.dataclass
class Candidate:
    """A segment made by the real writer for the served vault's next number."""

    body: bytes
    sig: bytes
    seq: int
    resources: dict[str, dict]


def make_candidate(served: Served, workdir: Path, resources: list[dict]) -> Candidate:
    """Copy the vault and the writer state, import into the copy: its next segment is a
    genuine, correctly signed and chained next segment of the served vault."""
    vault, state = workdir / "vault", workdir / "state"
    shutil.copytree(served.vault, vault)
    shutil.copytree(served.state, state)
    data = write_ndjson(workdir / "data.ndjson", resources)
    run_releve("import", "--vault", vault, "--signing-key", served.keys.signing_key,
               "--state", state, data)
    seq = segment_numbers(vault)[-1]
    assert seq == segment_numbers(served.vault)[-1] + 1
    return Candidate(segment(vault, seq).read_bytes(), signature(vault, seq).read_bytes(), seq,
                     {key_of(r): r for r in resources})


def put(client: httpx.Client, seq: int | str, body: bytes, sig: bytes) -> httpx.Response:
    return client.put(f"/v1/segments/{seq}", content=body,
                      headers={"X-Releve-Signature": base64.b64encode(sig).decode(),
                               "Content-Type": "application/octet-stream"})


def resign(served: Served, body: bytes, signer=None, **changes) -> bytes:
    """A minisign signature over `body` whose descriptor is the head's next one, changed."""
    from releve.vault import format as fmt
    from releve.vault.keys import load_signer
    from releve.vault.minisign import file_digest_bytes

    config = json.loads((served.vault / "config.json").read_bytes())
    head = segment_numbers(served.vault)[-1]
    fields = dict(vault=config["vault_id"], seq=head + 1, prev=sha256(segment(served.vault, head)),
                  kind="delta", time=fmt.utc_now(), source="attack", puts=1, deletes=0)
    fields.update(changes)
    key = signer or load_signer(served.keys.signing_key)
    return key.sign(file_digest_bytes(body), fmt.Descriptor(**fields).to_comment()).encode()


# --- the server ------------------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path, keys: Keys, vault_dir: Path):
    """A vault with two segments, served by `releve vault serve` in its own process."""
    state = tmp_path / "state"
    first, second = patients("alpha", 3), patients("beta", 2)
    for name, resources in (("first", first), ("second", second)):
        run_releve("import", "--vault", vault_dir, "--signing-key", keys.signing_key,
                   "--state", state, write_ndjson(tmp_path / f"{name}.ndjson", resources))
    assert segment_numbers(vault_dir) == [1, 2]

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server, _ = start_server(
        [*RELEVE, "vault", "serve", vault_dir, "--port", str(port),
         "--writer-token", WRITER, "--reader-token", READER],
        lambda: answers(f"{url}/v1/head", {"Authorization": f"Bearer {READER}"}),
        what="releve vault serve", seconds=30, log=tmp_path / "server.log",
        env={k: v for k, v in os.environ.items() if not k.startswith("RELEVE_")})
    try:
        expected = {key_of(r): r for r in first + second}
        yield Served(url, vault_dir, state, keys, expected, server)
    finally:
        server.stop()


# --- reading ---------------------------------------------------------------------------------


READ_PATHS = ["/v1/config", "/v1/head", "/v1/segments", "/v1/segments?after=1", "/v1/segments/1",
              "/v1/segments/2/signature", "/v1/segments/2/info"]


@pytest.mark.parametrize("token", [READER, WRITER], ids=["reader", "writer"])
def test_read_endpoints_give_the_files_on_disk(served: Served, token: str) -> None:
    vault = served.vault
    with served.client(token) as client:
        response = client.get("/v1/config")
        assert response.status_code == 200
        assert response.content == (vault / "config.json").read_bytes()

        response = client.get("/v1/head")
        assert response.status_code == 200
        assert response.json() == {"seq": 2, "sha256": sha256(segment(vault, 2))}

        def info(seq: int) -> dict:
            return {"seq": seq, "sha256": sha256(segment(vault, seq)),
                    "size": segment(vault, seq).stat().st_size,
                    "descriptor": trusted_comment(signature(vault, seq))}

        response = client.get("/v1/segments")
        assert response.status_code == 200
        assert response.json() == {"segments": [info(1), info(2)]}
        assert client.get("/v1/segments", params={"after": 1}).json() == {"segments": [info(2)]}
        assert client.get("/v1/segments", params={"after": 2}).json() == {"segments": []}
        descriptor = json.loads(response.json()["segments"][0]["descriptor"])
        assert (descriptor["seq"], descriptor["puts"]) == (1, 3)

        for seq in (1, 2):
            response = client.get(f"/v1/segments/{seq}")
            assert response.status_code == 200
            assert response.content == segment(vault, seq).read_bytes()
            response = client.get(f"/v1/segments/{seq}/signature")
            assert response.status_code == 200
            assert response.content == signature(vault, seq).read_bytes()
            response = client.get(f"/v1/segments/{seq}/info")
            assert response.status_code == 200
            assert response.json() == info(seq)

        for missing in ("/v1/segments/3", "/v1/segments/3/signature", "/v1/segments/3/info",
                        "/v1/segments/0", "/v1/segments/abc"):
            assert client.get(missing).status_code == 404, missing


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer not-the-token"},
    {"Authorization": f"Bearer {READER}x"},
    {"Authorization": f"Basic {base64.b64encode(f'reader:{READER}'.encode()).decode()}"},
    {"Authorization": READER},
    {"Authorization": "Bearer"},
], ids=["none", "wrong", "prefixed", "basic", "no-scheme", "empty"])
def test_reading_without_a_valid_token_is_401(served: Served, headers: dict) -> None:
    with httpx.Client(base_url=served.url, headers=headers, timeout=30) as client:
        for path in READ_PATHS:
            response = client.get(path)
            assert response.status_code == 401, path
            assert segment(served.vault, 1).read_bytes()[:64] not in response.content
            assert b"vault_id" not in response.content


# --- appending through the server ---------------------------------------------------------------


def test_remote_import_appends_and_vault_verifies(served: Served, tmp_path: Path) -> None:
    new = patients("gamma", 4) + [{"resourceType": "Observation", "id": "obs-1", "status": "final",
                                   "subject": {"reference": "Patient/alpha-0"},
                                   "valueQuantity": {"value": 38.4, "unit": "Cel"}}]
    data = write_ndjson(tmp_path / "remote.ndjson", new)
    result = run_releve("import", "--vault", served.url, "--token", WRITER, "--signing-key",
                        served.keys.signing_key, "--state", served.state, data)
    assert "segment 3 (delta): 5 put, 0 deleted" in result.stdout.decode()
    assert segment_numbers(served.vault) == [1, 2, 3]
    out = verify(served.vault, served.keys)
    assert "3 segments" in out and "10 records decrypted and checked" in out
    expected = {**served.expected, **{key_of(r): r for r in new}}
    assert cat_state(served.vault, served.keys.identity) == expected
    with served.client(READER) as client:
        assert client.get("/v1/head").json() == {"seq": 3, "sha256": sha256(segment(served.vault, 3))}
        assert client.get("/v1/segments/3").content == segment(served.vault, 3).read_bytes()

    # the same again through the server: nothing changed, nothing appended
    again = run_releve("import", "--vault", served.url, "--token", WRITER, "--signing-key",
                       served.keys.signing_key, "--state", served.state, data)
    assert "nothing changed" in again.stdout.decode()
    assert segment_numbers(served.vault) == [1, 2, 3]

    # an update through the server is appended as segment 4 with just that resource
    changed = {**new[0], "birthDate": "1999-09-09"}
    result = run_releve("import", "--vault", served.url, "--token", WRITER, "--signing-key",
                        served.keys.signing_key, "--state", served.state,
                        write_ndjson(tmp_path / "update.ndjson", [changed]))
    assert "segment 4 (delta): 1 put" in result.stdout.decode()
    verify(served.vault, served.keys)
    assert cat_state(served.vault, served.keys.identity)[key_of(changed)] == changed


def test_remote_import_with_reader_token_is_refused(served: Served, tmp_path: Path) -> None:
    before = tree_digest(served.vault)
    data = write_ndjson(tmp_path / "remote.ndjson", patients("delta", 2))
    result = run_releve("import", "--vault", served.url, "--token", READER, "--signing-key",
                        served.keys.signing_key, "--state", served.state, data, check=False)
    stderr = result.stderr.decode()
    assert result.returncode == 1
    assert "error:" in stderr and "writer token" in stderr
    assert "Traceback" not in stderr
    assert tree_digest(served.vault) == before
    assert segment_numbers(served.vault) == [1, 2]

    # no token at all: refused too, clearly
    result = run_releve("import", "--vault", served.url, "--signing-key", served.keys.signing_key,
                        "--state", served.state, data, check=False,
                        env={"RELEVE_TOKEN": ""})
    assert result.returncode == 1 and b"401" in result.stderr and b"Traceback" not in result.stderr
    assert tree_digest(served.vault) == before

    # the writer, with the same state, then appends normally (the refused segment is forgotten)
    result = run_releve("import", "--vault", served.url, "--token", WRITER, "--signing-key",
                        served.keys.signing_key, "--state", served.state, data)
    assert "segment 3 (delta): 2 put" in result.stdout.decode()
    verify(served.vault, served.keys)
    assert cat_state(served.vault, served.keys.identity) == {
        **served.expected, **{key_of(r): r for r in patients("delta", 2)}}


# --- no way to delete or overwrite -----------------------------------------------------------


def test_no_token_can_delete_or_overwrite_a_segment(served: Served, tmp_path: Path) -> None:
    from releve.vault.minisign import SecretKey

    vault = served.vault
    head = 2
    seg1, sig1 = segment(vault, 1).read_bytes(), signature(vault, 1).read_bytes()
    seg2, sig2 = segment(vault, 2).read_bytes(), signature(vault, 2).read_bytes()
    genuine = make_candidate(served, tmp_path / "genuine", patients("intruder", 2))
    config = json.loads((vault / "config.json").read_bytes())
    genesis = sha256(vault / "config.json")
    flipped = bytearray(genuine.body)
    flipped[len(flipped) // 2] ^= 0x01
    stranger = SecretKey.generate()

    # (name, method, path, body, signature, the code a writer must get)
    attempts = [
        ("delete segment", "DELETE", "/v1/segments/1", None, None, 405),
        ("delete last segment", "DELETE", f"/v1/segments/{head}", None, None, 405),
        ("post segment", "POST", "/v1/segments/1", genuine.body, genuine.sig, 405),
        ("patch segment", "PATCH", "/v1/segments/1", genuine.body, genuine.sig, 405),
        ("delete signature", "DELETE", "/v1/segments/1/signature", None, None, 405),
        ("put signature", "PUT", "/v1/segments/1/signature", sig2, None, 405),
        ("delete listing", "DELETE", "/v1/segments", None, None, 405),
        ("post listing", "POST", "/v1/segments", genuine.body, genuine.sig, 405),
        ("delete config", "DELETE", "/v1/config", None, None, 405),
        ("put config", "PUT", "/v1/config", b'{"format":"releve-vault"}', None, 405),
        ("put head", "PUT", "/v1/head", b"{}", None, 405),
        # overwrite segment 1 with segment 2's genuine body and signature
        ("segment 2 over 1", "PUT", "/v1/segments/1", seg2, sig2, 409),
        ("segment 1 again", "PUT", "/v1/segments/1", seg1, sig1, 409),
        ("segment 2 again", "PUT", f"/v1/segments/{head}", seg2, sig2, 409),
        # a replacement for segment 1, perfectly signed as segment 1 chained on the config
        ("re-signed segment 1", "PUT", "/v1/segments/1", genuine.body,
         resign(served, genuine.body, seq=1, prev=genesis), 409),
        ("genuine next over 2", "PUT", f"/v1/segments/{head}", genuine.body, genuine.sig, 409),
        # a gap
        ("gap", "PUT", f"/v1/segments/{head + 5}", genuine.body, genuine.sig, 409),
        ("gap, signed for it", "PUT", f"/v1/segments/{head + 5}", genuine.body,
         resign(served, genuine.body, seq=head + 5), 409),
        # the next number, with something wrong
        ("bad signature", "PUT", f"/v1/segments/{head + 1}", bytes(flipped), genuine.sig, 403),
        ("unknown key", "PUT", f"/v1/segments/{head + 1}", genuine.body,
         resign(served, genuine.body, signer=stranger), 403),
        ("wrong prev", "PUT", f"/v1/segments/{head + 1}", genuine.body,
         resign(served, genuine.body, prev="0" * 64), 409),
        ("prev of segment 1", "PUT", f"/v1/segments/{head + 1}", genuine.body,
         resign(served, genuine.body, prev=sha256(segment(vault, 1))), 409),
        ("other vault", "PUT", f"/v1/segments/{head + 1}", genuine.body,
         resign(served, genuine.body, vault="f" * 32), 403),
        ("signed number differs", "PUT", f"/v1/segments/{head + 1}", genuine.body,
         resign(served, genuine.body, seq=head + 2), 403),
        ("garbage signature", "PUT", f"/v1/segments/{head + 1}", genuine.body,
         b"untrusted comment: x\nAAAA\ntrusted comment: {}\nAAAA\n", 403),
    ]
    assert config["vault_id"] != "f" * 32
    before = tree_digest(vault)
    assert any(name.startswith("segments/") for name in before)

    for token in (WRITER, READER, None, "forged-token"):
        with served.client(token) as client:
            for name, method, path, body, sig, writer_code in attempts:
                headers = {"Content-Type": "application/octet-stream"}
                if sig is not None:
                    headers["X-Releve-Signature"] = base64.b64encode(sig).decode()
                response = client.request(method, path, content=body, headers=headers)
                where = f"{name} ({method} {path}) with token {token!r}: {response.status_code}"
                assert response.status_code in REFUSED, where
                if token == WRITER:
                    assert response.status_code == writer_code, where
                elif method == "PUT" and path.startswith("/v1/segments/") and "signature" not in path:
                    assert response.status_code == (403 if token == READER else 401), where
                assert tree_digest(vault) == before, f"vault changed by {where}"
            # paths that try to step outside the segments folder
            for path in ("/v1/segments/..%2Fconfig.json", "/v1/segments/%2e%2e%2fconfig.json",
                         "/v1/segments/0000000001.age", "/v1/segments/-1", "/v1/segments/1.0",
                         "/v1/segments/%C2%B3", "/v1/segments/%D9%A3", "/v1/segments/+3",
                         "/v1/segments/%203"):
                response = client.put(path, content=genuine.body,
                                      headers={"X-Releve-Signature": base64.b64encode(genuine.sig).decode()})
                assert response.status_code in (*REFUSED, 404), (path, token, response.status_code)
                assert tree_digest(vault) == before, f"vault changed by PUT {path}"

    assert tree_digest(vault) == before
    assert segment_numbers(vault) == [1, 2]
    assert "2 segments" in verify(vault, served.keys)
    with served.client(READER) as client:
        assert client.get("/v1/head").json() == {"seq": 2, "sha256": sha256(segment(vault, 2))}

    # and the genuine next segment, sent properly, is accepted: the refusals above were
    # about what they tried, not about how they were sent
    with served.client(WRITER) as client:
        response = put(client, head + 1, genuine.body, genuine.sig)
    assert response.status_code == 201, response.text
    assert response.json()["seq"] == head + 1
    assert segment(vault, head + 1).read_bytes() == genuine.body
    assert "3 segments" in verify(vault, served.keys)
    assert cat_state(vault, served.keys.identity) == {**served.expected, **genuine.resources}


# --- concurrent appends --------------------------------------------------------------------------


def test_concurrent_appends_of_the_same_number_one_wins(served: Served, tmp_path: Path) -> None:
    expected = dict(served.expected)
    for round_ in range(3):
        first = make_candidate(served, tmp_path / f"r{round_}a", patients(f"left{round_}", 2))
        second = make_candidate(served, tmp_path / f"r{round_}b", patients(f"right{round_}", 3))
        assert first.seq == second.seq == 3 + round_
        assert first.body != second.body
        barrier = threading.Barrier(2)
        results: dict[str, httpx.Response] = {}

        def send(name: str, candidate: Candidate, barrier=barrier, results=results) -> None:
            with served.client(WRITER) as client:
                barrier.wait()
                results[name] = put(client, candidate.seq, candidate.body, candidate.sig)

        threads = [threading.Thread(target=send, args=("first", first)),
                   threading.Thread(target=send, args=("second", second))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(r.status_code for r in results.values()) == [201, 409], {
            k: (r.status_code, r.text) for k, r in results.items()}
        winner = first if results["first"].status_code == 201 else second
        loser = second if winner is first else first
        assert segment_numbers(served.vault) == list(range(1, winner.seq + 1))
        assert segment(served.vault, winner.seq).read_bytes() == winner.body
        assert signature(served.vault, winner.seq).read_bytes() == winner.sig
        assert list((served.vault / "tmp").iterdir()) == []
        expected.update(winner.resources)
        state = cat_state(served.vault, served.keys.identity)
        assert state == expected
        assert not set(loser.resources) & set(state)
        # the writer state the winner came from is the one to carry on with
        winner_state = (tmp_path / f"r{round_}{'a' if winner is first else 'b'}" / "state")
        shutil.rmtree(served.state)
        shutil.copytree(winner_state, served.state)
    assert f"{len(segment_numbers(served.vault))} segments" in verify(served.vault, served.keys)
