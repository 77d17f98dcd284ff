"""A station reading a vault over HTTP through connections that break: reset as the
request goes out (a server's keep-alive timer closing a pooled connection), or cut in the
middle of a segment's download. The read is tried again on a new connection, and what
the station holds is exactly the vault's. A proxy on loopback breaks the connections."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from releve.station.sync import init_station, sync_once
from releve.vault.chain import hash_file
from releve.vault.server import create_app
from releve.vault.source import HttpVault
from releve.vault.store import LocalVault
from test_station_sync import _station_rows, _vault_state, history  # noqa: F401 (a fixture)

from helpers import serving

READER = "reader-token-of-at-least-32-characters"


def _reset(conn: socket.socket) -> None:
    """Drop the connection as a peer that goes away does: a reset where nothing else
    holds the socket, else (the other direction's thread blocked in recv on it) a close
    at once, which that thread's recv sees too."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
    conn.close()


class BreakingProxy:
    """Forwards loopback connections to `backend`, breaking the first ones as planned:
    "reset" (once the request is in), "cut:N" (after N bytes of the answers), "pass"."""

    def __init__(self, backend: tuple[str, int], plans: list[str]) -> None:
        self.backend, self.plans, self.broken = backend, list(plans), 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            plan = self.plans.pop(0) if self.plans else "pass"
            threading.Thread(target=self._serve, args=(conn, plan), daemon=True).start()

    def _serve(self, conn: socket.socket, plan: str) -> None:
        if plan == "reset":
            conn.recv(65536)
            self.broken += 1
            _reset(conn)
            return
        upstream = socket.create_connection(self.backend)
        threading.Thread(target=_pipe, args=(conn, upstream), daemon=True).start()
        limit = int(plan.split(":")[1]) if plan.startswith("cut:") else None
        sent = 0
        try:
            while chunk := upstream.recv(1024):
                if limit is not None and sent + len(chunk) > limit:
                    conn.sendall(chunk[:limit - sent])
                    self.broken += 1
                    _reset(conn)
                    return
                conn.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        finally:
            upstream.close()

    def close(self) -> None:
        self.listener.close()


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass


@pytest.fixture
def backend(vault_dir: Path) -> Iterator[tuple[str, int]]:
    with serving(create_app(LocalVault(vault_dir), "writer-token-of-at-least-32-characters",
                            READER)) as url:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        yield host, int(port)


def test_a_sync_goes_on_through_connections_reset_as_requests_go_out(
        tmp_path, keys, vault_dir, history, backend) -> None:  # noqa: F811
    proxy = BreakingProxy(backend, ["reset", "reset"])
    try:
        station = tmp_path / "station"
        init_station(station, keys.identity, source=HttpVault(proxy.url, READER))
        assert sync_once(station, HttpVault(proxy.url, READER)).applied == [1, 2, 3]
    finally:
        proxy.close()
    assert proxy.broken == 2
    assert _station_rows(station) == _vault_state(vault_dir, keys)


def test_a_download_cut_midway_is_fetched_again_whole(tmp_path, vault_dir, history,  # noqa: F811
                                                      backend) -> None:
    whole = LocalVault(vault_dir).segment_path(1)
    size = whole.stat().st_size
    signed = LocalVault(vault_dir).signature_path(1).stat().st_size
    assert size > 1000
    # the signature's answer (its headers about 250 bytes), the segment's headers, then
    # about half its body
    proxy = BreakingProxy(backend, [f"cut:{signed + 500 + size // 2}"])
    try:
        target = tmp_path / "segment"
        signature = HttpVault(proxy.url, READER).fetch(1, target)
    finally:
        proxy.close()
    assert proxy.broken == 1
    assert hash_file(target) == hash_file(whole)
    assert signature == LocalVault(vault_dir).signature_path(1).read_bytes()
