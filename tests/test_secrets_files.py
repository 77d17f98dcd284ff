"""Secrets and files: tokens never needed on the command line, vault tokens long enough to
resist guessing, private files private whatever the umask, no symlink served by the
vault, and a station identity that can live outside the station folder.

Every command runs as a real `releve` process; the modes are those on disk.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from releve.vault.format import VaultError
from releve.vault.server import create_app
from releve.vault.store import LocalVault
from test_capture import start_his

from conftest import RELEVE, run_releve
from helpers import answers, free_port, serving, start_server

WRITER = "w" * 31 + "-writer-token"
READER = "r" * 31 + "-reader-token"
PATIENT = "Mertzenbacher"  # a name that must appear in no log


def write_ndjson(path: Path, count: int, family: str = PATIENT) -> Path:
    path.write_bytes(b"".join(orjson.dumps({"resourceType": "Patient", "id": f"p{i}",
                                            "name": [{"family": f"{family}{i}"}]}) + b"\n"
                              for i in range(count)))
    return path


def secret_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any RELEVE_ secret (the clock stays)."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("RELEVE_") and k != "RELEVE_NOW")}
    return {**env, **extra}


def releve(*args: str | Path, umask: int | None = None, env: dict[str, str] | None = None,
           check: bool = True) -> subprocess.CompletedProcess:
    """`releve ARGS` in a process of its own, with `umask` if given (os.umask in the child)."""
    result = subprocess.run([*RELEVE, *map(str, args)], capture_output=True, timeout=600,
                            env=env or clean_env(), umask=-1 if umask is None else umask)
    if check and result.returncode != 0:
        raise AssertionError(f"releve {' '.join(map(str, args))} failed ({result.returncode}):\n"
                             f"{result.stdout.decode(errors='replace')}\n"
                             f"{result.stderr.decode(errors='replace')}")
    return result


def serve(vault: Path, tmp_path: Path, *args: str | Path, env: dict[str, str] | None = None):
    """`releve vault serve VAULT ARGS` until it answers the reader token; its process, URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server, _ = start_server([*RELEVE, "vault", "serve", vault, "--port", str(port), *args],
                             lambda: answers(f"{url}/v1/head", {"Authorization": f"Bearer {READER}"}),
                             what="releve vault serve", seconds=30, env=env or clean_env(),
                             log=tmp_path / "serve.log")
    return server, url


# --- 1. tokens from a file or the environment ----------------------------------------------------


def test_tokens_are_read_from_files_and_the_command_line_only_warns(tmp_path, keys, vault_dir):
    writer_file = secret_file(tmp_path / "writer.token", f"  {WRITER}  \nsecond line ignored")
    reader_file = secret_file(tmp_path / "reader.token", READER)
    server, url = serve(vault_dir, tmp_path, "--writer-token-file", writer_file,
                        "--reader-token-file", reader_file)
    try:
        data = write_ndjson(tmp_path / "a.ndjson", 3)
        state = tmp_path / "state"
        imported = releve("import", "--vault", url, "--signing-key", keys.signing_key,
                          "--state", state, "--token-file", writer_file, data)
        assert b"segment 1" in imported.stdout
        assert b"warning" not in imported.stderr

        # the environment keeps working, silently; so does the file named by the environment
        env_run = releve("vault", "checkpoint", "--vault", url, "--signing-key", keys.signing_key,
                         "--state", state, env=clean_env(RELEVE_TOKEN=WRITER))
        assert b"checkpoint: segment 2" in env_run.stdout and b"warning" not in env_run.stderr
        station = tmp_path / "station"
        releve("station", "init", station, "--identity", keys.identity, "--vault", url,
               env=clean_env(RELEVE_TOKEN_FILE=str(reader_file)))
        synced = releve("station", "sync", "--station", station, "--vault", url,
                        env=clean_env(RELEVE_TOKEN_FILE=str(reader_file)))
        assert b"applied segments 2" in synced.stdout

        # on the command line: it works, with a warning that does not repeat the token
        visible = releve("vault", "checkpoint", "--vault", url, "--signing-key", keys.signing_key,
                         "--state", state, "--token", WRITER)
        assert b"checkpoint: segment 3" in visible.stdout
        warning = visible.stderr.decode()
        assert "--token given on the command line" in warning and "process list" in warning
        assert WRITER not in warning and WRITER not in visible.stdout.decode()

        both = releve("import", "--vault", url, "--signing-key", keys.signing_key, "--state", state,
                      "--token", WRITER, "--token-file", writer_file, data, check=False)
        assert both.returncode == 2 and "not both" in both.stderr.decode()
    finally:
        server.stop()


def test_a_secret_file_others_may_read_is_refused(tmp_path, keys, vault_dir):
    writer_file = secret_file(tmp_path / "writer.token", WRITER, 0o640)
    reader_file = secret_file(tmp_path / "reader.token", READER)
    refused = releve("vault", "serve", vault_dir, "--port", str(free_port()),
                     "--writer-token-file", writer_file, "--reader-token-file", reader_file,
                     check=False)
    said = refused.stderr.decode() + refused.stdout.decode()
    assert refused.returncode == 2
    assert "chmod 600" in said and "0640" in said.replace("\n", "")
    assert WRITER not in said

    fhir_token = secret_file(tmp_path / "fhir.token", "x" * 40, 0o604)
    capture = releve("capture", "--vault", vault_dir, "--fhir", "http://127.0.0.1:9/fhir",
                     "--signing-key", keys.signing_key, "--once", "--fhir-token-file", fhir_token,
                     check=False)
    assert capture.returncode == 2 and "chmod 600" in capture.stderr.decode()

    missing = releve("vault", "serve", vault_dir, "--reader-token-file", reader_file, check=False)
    assert missing.returncode == 2 and "--writer-token-file" in missing.stderr.decode()


# --- 2. the vault server's tokens are long enough -----------------------------------------------


def test_the_vault_server_refuses_short_tokens(tmp_path, vault_dir):
    short = secret_file(tmp_path / "short.token", "s3cret-but-only-24-chars")
    reader_file = secret_file(tmp_path / "reader.token", READER)
    refused = releve("vault", "serve", vault_dir, "--port", str(free_port()),
                     "--writer-token-file", short, "--reader-token-file", reader_file, check=False)
    said = refused.stderr.decode()
    assert refused.returncode == 1
    assert "writer token is 24 characters long" in said and "at least 32" in said
    assert "releve keys token" in said and "s3cret" not in said
    with pytest.raises(VaultError, match="reader token is 12 characters"):
        create_app(LocalVault(vault_dir), WRITER, "reader-token")

    # `releve keys token` makes one the server takes
    made = tmp_path / "made.token"
    releve("keys", "token", "--out", made)
    assert stat.S_IMODE(made.stat().st_mode) == 0o600
    assert len(made.read_text().strip()) >= 32
    create_app(LocalVault(vault_dir), made.read_text().strip(), READER)
    again = releve("keys", "token", "--out", made, check=False)
    assert again.returncode == 1 and "never overwritten" in again.stderr.decode()


# --- 3. private files whatever the umask -------------------------------------------------------


@pytest.fixture
def his(tmp_path: Path) -> Iterator[str]:
    """The demo HIS serving a few patients; its FHIR base URL."""
    server, base = start_his(write_ndjson(tmp_path / "his.ndjson", 20), tmp_path / "his.sqlite")
    try:
        yield base
    finally:
        server.stop()


def modes(folder: Path) -> dict[str, str]:
    """Every folder and file under `folder` (itself included) with its mode, e.g. '0700'."""
    found = {".": f"{stat.S_IMODE(folder.stat().st_mode):04o}"}
    for path in folder.rglob("*"):
        found[str(path.relative_to(folder))] = f"{stat.S_IMODE(path.lstat().st_mode):04o}"
    return found


def test_private_files_are_0600_and_folders_0700_with_umask_0000(tmp_path, his):
    keys, vault = tmp_path / "keys", tmp_path / "vault"
    state, rebuilt, station = tmp_path / "state", tmp_path / "rebuilt", tmp_path / "station"
    recipient = releve("keys", "station", "ward", "--out", keys, umask=0).stdout.decode().strip()
    releve("keys", "signer", "capture", "--out", keys, umask=0)
    releve("keys", "token", "--out", keys / "writer.token", umask=0)
    releve("vault", "init", vault, "--recipient", recipient, "--signer", keys / "capture.pub", umask=0)
    signing = ("--signing-key", keys / "capture.minisign.key")
    releve("capture", "--vault", vault, "--fhir", his, *signing, "--state", state, "--once", umask=0)
    releve("capture", "--vault", vault, "--fhir", his, *signing, "--state", state, "--once",
           "--mode", "bulk", umask=0)
    releve("import", "--vault", vault, *signing, "--state", state,
           write_ndjson(tmp_path / "more.ndjson", 3, "Autre"), umask=0)
    releve("vault", "checkpoint", "--vault", vault, *signing, "--state", state, umask=0)
    releve("vault", "rebuild-state", "--vault", vault, "--identity", keys / "ward.key",
           "--state", rebuilt, umask=0)
    releve("station", "init", station, "--identity", keys / "ward.key", "--vault", vault, umask=0)
    releve("station", "sync", "--station", station, "--vault", vault, umask=0)

    assert (state / "capture.json").exists() and list((state / "plain").glob("*.zst"))
    assert (state / "state.lmdb" / "data.mdb").exists() and (rebuilt / "state.lmdb").exists()
    public = {"ward.recipient", "capture.pub"}
    wrong = {}
    for folder in (keys, vault, state, rebuilt, station):
        for name, mode in modes(folder).items():
            path = folder / name
            wanted = "0700" if path.is_dir() else "0644" if path.name in public else "0600"
            if mode != wanted:
                wrong[str(path.relative_to(tmp_path))] = mode
    assert wrong == {}


# --- 4. the vault server serves no symbolic link -----------------------------------------------


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.mark.parametrize("planted", ["segment", "signature", "segments folder"])
def test_the_vault_server_refuses_a_symlink(tmp_path, keys, vault_dir, planted):
    state = tmp_path / "state"
    for name in ("a", "b"):
        run_releve("import", "--vault", vault_dir, "--signing-key", keys.signing_key, "--state",
                   state, write_ndjson(tmp_path / f"{name}.ndjson", 2, f"{PATIENT}{name}"))
    outside = tmp_path / "outside"
    segments = vault_dir / "segments"
    if planted == "segments folder":  # the whole folder elsewhere, a link in its place
        shutil.move(segments, outside)
        segments.symlink_to(outside)
    else:  # a faithful copy of the file elsewhere, a link in its place
        outside.mkdir()
        name = "0000000002.age" + (".minisig" if planted == "signature" else "")
        shutil.move(segments / name, outside / name)
        (segments / name).symlink_to(outside / name)

    records = Records()
    headers = {"Authorization": f"Bearer {READER}"}
    with serving(create_app(LocalVault(vault_dir), WRITER, READER), log_handler=records) as url:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            answered = {path: client.get(path) for path in (
                "/v1/segments/2", "/v1/segments/2/signature", "/v1/segments/2/info",
                "/v1/segments", "/v1/head")}
    # every answer that reads the planted file refuses; a genuine segment beside a planted
    # signature is still served (and the head is that segment's hash)
    for path, response in answered.items():
        reads_it = planted != "signature" or path not in ("/v1/segments/2", "/v1/head")
        assert response.status_code == (500 if reads_it else 200), (path, response.text[:200])
        if reads_it:
            assert "symbolic link" in response.json()["error"]
    logged = "\n".join(records.lines)
    assert "symbolic link" in logged and PATIENT not in logged


# --- 5. the station identity outside the station folder -----------------------------------------


def test_a_station_keeps_its_identity_outside_its_folder(tmp_path, keys, vault_dir):
    run_releve("import", "--vault", vault_dir, "--signing-key", keys.signing_key, "--state",
               tmp_path / "state", write_ndjson(tmp_path / "a.ndjson", 4))
    station = tmp_path / "station"
    releve("station", "init", station, "--identity", keys.identity, "--vault", vault_dir,
           "--no-copy-identity")
    held = [p for p in station.rglob("*") if p.is_file() and b"AGE-SECRET-KEY" in p.read_bytes()]
    assert held == []

    without = releve("station", "sync", "--station", station, "--vault", vault_dir, check=False)
    assert without.returncode == 1 and "--identity" in without.stderr.decode()
    by_option = releve("station", "sync", "--station", station, "--vault", vault_dir,
                       "--identity", keys.identity)
    assert b"applied segments 1" in by_option.stdout
    run_releve("import", "--vault", vault_dir, "--signing-key", keys.signing_key, "--state",
               tmp_path / "state", write_ndjson(tmp_path / "b.ndjson", 5))
    by_env = releve("station", "sync", "--station", station, "--vault", vault_dir,
                    env=clean_env(RELEVE_STATION_IDENTITY=str(keys.identity)))
    assert b"applied segments 2" in by_env.stdout
    assert not any(b"AGE-SECRET-KEY" in p.read_bytes() for p in station.rglob("*") if p.is_file())

