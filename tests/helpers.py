"""What the tests need around the product: free loopback ports, waiting for a condition,
servers in a subprocess or in a thread, and the processes below a process.

A wait always has a deadline and says what it waited for, so a stuck test fails in
seconds with a sentence rather than at the suite's timeout with a traceback.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import httpx

T = TypeVar("T")
LOOPBACK = "127.0.0.1"


# --- ports -----------------------------------------------------------------------------------


def _ephemeral_floor() -> int:
    """The first port of the kernel's range for outbound connections' local ports."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> int:
    """A port P with P+1... P+count-1 free too, for a command started later that binds
    them itself.

    Chosen below the ephemeral range: a port the kernel hands out for port 0 comes from
    the range that outbound connections take their local ports from, and the demo's own
    connections (the HL7 feed, the stations' syncs) once took the port a test had chosen
    for a station before the station could bind it ("address already in use")."""
    chance, top = random.Random(), _ephemeral_floor() - count
    for _ in range(200):
        port = chance.randrange(20000, top)
        if all(_bindable(port + n) for n in range(count)):
            return port
    raise AssertionError(f"no {count} consecutive free ports below {top}")


def free_port() -> int:
    """A loopback TCP port nobody listens on now, for a process started later to bind."""
    return free_ports(1)


def free_port_pair() -> int:
    """A port P with P+1 free too, for a command that takes a first port and counts on."""
    return free_ports(2)


# --- waiting ---------------------------------------------------------------------------------


def wait_until(what: str, condition: Callable[[], T], seconds: float = 60.0,
               step: float = 0.2) -> T:
    """The first true value of `condition()`, polled every `step` seconds; an
    AssertionError naming `what` once `seconds` have passed without one."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")
        time.sleep(step)


def answers(url: str, headers: dict[str, str] | None = None) -> bool:
    """Whether a GET of `url` gets a 200 now (a refused or failed connection is a no)."""
    try:
        return httpx.get(url, headers=headers, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


# --- a server in a subprocess ----------------------------------------------------------------


class ServerProcess:
    """A server command running in its own process, its output kept in a file (a pipe
    nobody reads would stall a talkative server) to be shown if it dies."""

    def __init__(self, args: Sequence[str | Path], *, env: dict[str, str] | None = None,
                 log: Path | None = None) -> None:
        self.args = [str(arg) for arg in args]
        self._log = open(log, "w+b") if log is not None else tempfile.TemporaryFile()
        self.process = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env)

    def output(self, tail: int = 2000) -> str:
        """The last `tail` bytes the server wrote (read at their offset: the server shares
        the file's position)."""
        fd = self._log.fileno()
        size = os.fstat(fd).st_size
        start = max(0, size - tail)
        return os.pread(fd, size - start, start).decode(errors="replace")

    def running(self) -> bool:
        """Whether the server process has not exited."""
        return self.process.poll() is None

    def stop(self, timeout: float = 10) -> int:
        """Ask the server to stop (SIGTERM), kill it if it does not within `timeout`
        seconds; its exit status."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        self._log.close()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL, as a crash would: no chance to clean up."""
        self.process.kill()
        self.process.wait()


def start_server(args: Sequence[str | Path], ready: Callable[[], T], *, what: str = "the server",
                 seconds: float = 60, env: dict[str, str] | None = None,
                 log: Path | None = None) -> tuple[ServerProcess, T]:
    """Start a server command and wait until `ready()` is true (usually: it answers);
    the server and that value. The server is stopped again if it never gets ready."""
    server = ServerProcess(args, env=env, log=log)

    def up() -> T:
        if not server.running():
            raise AssertionError(f"{what} exited ({server.process.returncode}) before it "
                                 f"answered:\n{server.output()}")
        return ready()

    try:
        return server, wait_until(f"{what} to answer", up, seconds)
    except BaseException:
        server.stop()
        raise


# --- a server in a thread --------------------------------------------------------------------


SERVER_LOGGERS = ("", "uvicorn", "uvicorn.access")  # the root, and uvicorn's that do not propagate


@contextlib.contextmanager
def serving(app_or_config, seconds: float = 20, log_level: str = "warning",
            log_handler: logging.Handler | None = None, **options) -> Iterator[str]:
    """An ASGI app (on a free loopback port, `options` passed on to uvicorn.Config) or a
    uvicorn config, served by uvicorn in a daemon thread of this process while the block
    runs; yields its base URL, and fails if the server does not stop within 10 s after.
    `log_handler` sees the records logged meanwhile: it goes on the root logger and on
    uvicorn's (they do not propagate) once the config has set them up, resetting them."""
    import uvicorn

    config = app_or_config if isinstance(app_or_config, uvicorn.Config) else uvicorn.Config(
        app_or_config, host=LOOPBACK, port=0, log_level=log_level, **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)

    def started() -> bool:
        if not thread.is_alive():
            raise AssertionError("the server's thread ended before it started")
        return server.started

    with contextlib.ExitStack() as detach:
        if log_handler is not None:
            for logger in map(logging.getLogger, SERVER_LOGGERS):
                if log_handler not in logger.handlers:  # else an enclosing server's: it stays
                    logger.addHandler(log_handler)
                    detach.callback(logger.removeHandler, log_handler)
        thread.start()
        try:
            wait_until("uvicorn to start", started, seconds, step=0.02)
            port = server.servers[0].sockets[0].getsockname()[1]
            yield f"{'https' if config.is_ssl else 'http'}://{LOOPBACK}:{port}"
        finally:
            server.should_exit = True
            thread.join(10)
    if thread.is_alive():
        raise AssertionError("uvicorn did not stop within 10 s")


# --- certificates ----------------------------------------------------------------------------


def make_ca_and_server_cert(folder: Path) -> tuple[Path, Path, Path]:
    """A hospital CA and a certificate it signs for 127.0.0.1, made here for the test."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("CA du CH de démonstration"))
          .issuer_name(name("CA du CH de démonstration")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name("dpi.demo")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


# --- processes -------------------------------------------------------------------------------


def _stats() -> Iterator[tuple[int, list[bytes]]]:
    """(pid, the fields of /proc/pid/stat after the command name) of every process."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
        except OSError:
            continue  # ended meanwhile
        yield int(entry.name), stat.rsplit(b")", 1)[1].split()


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (children in their own sessions included)."""
    children: dict[int, list[int]] = {}
    for child, fields in _stats():
        children.setdefault(int(fields[1]), []).append(child)
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of a process group."""
    return [pid for pid, fields in _stats() if int(fields[2]) == pgid and fields[0] != b"Z"]


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, ended but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat.rsplit(b")", 1)[1].split()[0] != b"Z"
