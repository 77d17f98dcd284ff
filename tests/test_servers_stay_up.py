"""Servers that stay up: `releve vault serve` and `releve station serve` against slow clients.

Each server runs as a real process limited to 1,024 open files (as a service usually is),
and this process opens 1,100 connections that send half a request head and stall (a
"slowloris"). Without the limits of releve/serving.py the server runs out of descriptors
and answers nobody; with them, a normal request is answered at once, the stalled clients
are cut, and the server lives on. Then the vault's uploads: a capped number staged at once,
a stalled one dropped with its staged file.
"""

from __future__ import annotations

import base64
import contextlib
import os
import resource
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from releve.station.sync import init_station
from releve.vault.store import LocalVault

from conftest import RELEVE, Keys
from helpers import LOOPBACK, answers, free_port, wait_until

FD_LIMIT = 1024
SLOW_CLIENTS = 1100
HEAD_TIMEOUT = 3.0  # seconds, given to the servers: short, so that the test is
WRITER = "writer-token-of-at-least-32-characters"
READER = "reader-token-of-at-least-32-characters"
PARTIAL_HEAD = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow"  # never ends


def _limit_files() -> None:
    """In the server's process, before it starts: the usual limit on open files."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


@contextlib.contextmanager
def running(args: list[str | Path], ready_url: str, headers: dict[str, str], log: Path,
            ) -> Iterator[subprocess.Popen]:
    """The server command in its own process under FD_LIMIT, once `ready_url` answers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELEVE_") or k == "RELEVE_NOW"}
    env.update(RELEVE_WRITER_TOKEN=WRITER, RELEVE_READER_TOKEN=READER)
    with open(log, "wb") as output:
        process = subprocess.Popen([str(a) for a in args], stdout=output, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=env, preexec_fn=_limit_files)
    try:
        def up() -> bool:
            assert process.poll() is None, f"the server exited:\n{log.read_text()}"
            return answers(ready_url, headers)
        wait_until("the server to answer", up, 30)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def more_files(count: int) -> Iterator[None]:
    """This process may open `count` more files than it has open (within its hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = len(os.listdir("/proc/self/fd")) + count
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"this test needs {wanted} open files; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@contextlib.contextmanager
def stalled_clients(port: int, count: int, first_bytes: bytes) -> Iterator[list[socket.socket]]:
    """`count` connections to the server that each send `first_bytes` and nothing more."""
    clients: list[socket.socket] = []
    with more_files(count + 64):
        try:
            for _ in range(count):
                client = socket.create_connection((LOOPBACK, port), timeout=5)
                clients.append(client)
                client.sendall(first_bytes)
            yield clients
        finally:
            for client in clients:
                client.close()


def closed_by_server(client: socket.socket) -> bool:
    """Whether the server has closed this connection (it reads as end of file or reset)."""
    client.setblocking(False)
    try:
        while client.recv(65536):
            pass  # an answer (a 408, say) before the close
        return True
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def answer_time(url: str, headers: dict[str, str]) -> float:
    """Seconds a normal GET of `url` takes to get its 200."""
    started = time.monotonic()
    response = httpx.get(url, headers=headers, timeout=5)
    assert response.status_code == 200, response.text
    return time.monotonic() - started


def check_stays_up(server: subprocess.Popen, port: int, url: str, headers: dict[str, str]) -> None:
    """1,100 stalled clients: the normal request is answered within seconds, the stalled
    ones are cut after the head timeout, and the server outlives them."""
    with stalled_clients(port, SLOW_CLIENTS, PARTIAL_HEAD) as clients:
        assert answer_time(url, headers) < 3
        wait_until("the stalled clients to be cut", lambda: all(map(closed_by_server, clients)),
                   HEAD_TIMEOUT + 10, step=0.5)
        assert answer_time(url, headers) < 3
    assert server.poll() is None
    assert answer_time(url, headers) < 1


def vault_serve(vault: Path, port: int, *options: str) -> list[str | Path]:
    return [*RELEVE, "vault", "serve", vault, "--port", str(port), *options]


READING = {"Authorization": f"Bearer {READER}"}
WRITING = {"Authorization": f"Bearer {WRITER}", "X-Releve-Signature": base64.b64encode(b"x").decode()}


@pytest.mark.slow
def test_the_vault_answers_while_1100_clients_stall(tmp_path: Path, vault_dir: Path) -> None:
    port = free_port()
    url = f"http://{LOOPBACK}:{port}/v1/head"
    args = vault_serve(vault_dir, port, "--head-timeout", str(HEAD_TIMEOUT))
    with running(args, url, READING, tmp_path / "vault.log") as server:
        check_stays_up(server, port, url, READING)


@pytest.mark.slow
def test_the_station_answers_while_1100_clients_stall(tmp_path: Path, keys: Keys) -> None:
    station = tmp_path / "station"
    init_station(station, keys.identity, name="test")
    port = free_port()
    url = f"http://{LOOPBACK}:{port}/health"
    args = [*RELEVE, "station", "serve", "--station", station, "--port", str(port),
            "--head-timeout", str(HEAD_TIMEOUT)]
    with running(args, url, {}, tmp_path / "station.log") as server:
        check_stays_up(server, port, url, {})


# --- the vault's uploads ---------------------------------------------------------------------


def upload_head(port: int, seq: int, length: int) -> bytes:
    """A segment upload's complete request head, its body still to come."""
    lines = [f"PUT /v1/segments/{seq} HTTP/1.1", f"Host: {LOOPBACK}:{port}",
             f"Content-Length: {length}", "Content-Type: application/octet-stream",
             *(f"{name}: {value}" for name, value in WRITING.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def staged(vault: Path) -> list[str]:
    return sorted(p.name for p in LocalVault(vault).staging_dir.glob("in-*.part"))


def test_uploads_are_capped_and_a_stalled_one_is_dropped(tmp_path: Path, vault_dir: Path) -> None:
    """Two uploads at most (--max-uploads 2): a third writer is told to come back (503);
    the two stall, are dropped after --upload-idle with their staged files, and the vault
    takes uploads again."""
    port = free_port()
    base = f"http://{LOOPBACK}:{port}"
    args = vault_serve(vault_dir, port, "--max-uploads", "2", "--upload-idle", "2",
                       "--body-timeout", "60")
    with running(args, f"{base}/v1/head", READING, tmp_path / "vault.log"):
        with stalled_clients(port, 2, upload_head(port, 1, 1000) + b"x" * 10) as uploads:
            wait_until("two staged uploads", lambda: len(staged(vault_dir)) == 2, 10, step=0.05)
            third = httpx.put(f"{base}/v1/segments/1", content=b"y" * 100, headers=WRITING, timeout=5)
            assert third.status_code == 503
            assert third.json() == {"error": "the vault is already receiving 2 segments; try again shortly"}
            assert third.headers["retry-after"] == "5"
            started = time.monotonic()
            wait_until("the stalled uploads to be dropped", lambda: staged(vault_dir) == [], 10, step=0.1)
            assert 1.5 < time.monotonic() - started < 5
            for upload in uploads:
                upload.settimeout(5)
                answer = upload.recv(65536)
                assert answer.startswith(b"HTTP/1.1 408 "), answer
                assert b'"upload stalled for more than 2 s: dropped"' in answer
        after = httpx.put(f"{base}/v1/segments/7", content=b"y" * 100, headers=WRITING, timeout=5)
        assert after.status_code == 409, after.text  # heard again: the number is not next
        assert staged(vault_dir) == []


def test_a_stalled_body_is_cut_by_the_server(tmp_path: Path, vault_dir: Path) -> None:
    """--body-timeout, below the vault's own --upload-idle: the connection is closed, and
    the vault drops the staged file all the same."""
    port = free_port()
    base = f"http://{LOOPBACK}:{port}"
    args = vault_serve(vault_dir, port, "--body-timeout", "1", "--upload-idle", "60")
    with running(args, f"{base}/v1/head", READING, tmp_path / "vault.log") as server:
        with stalled_clients(port, 1, upload_head(port, 1, 1000) + b"x" * 10) as (upload,):
            wait_until("a staged upload", lambda: len(staged(vault_dir)) == 1, 10, step=0.05)
            started = time.monotonic()
            wait_until("the stalled upload to be cut", lambda: closed_by_server(upload), 10, step=0.05)
            assert 0.8 < time.monotonic() - started < 3
            wait_until("its staged file to go", lambda: staged(vault_dir) == [], 5, step=0.05)
        assert server.poll() is None
        assert answer_time(f"{base}/v1/head", READING) < 1
    log = (tmp_path / "vault.log").read_text()
    assert "upload of a segment cut: the connection closed" in log
    assert "Traceback" not in log
