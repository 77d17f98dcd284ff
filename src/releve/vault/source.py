"""Where a vault is: a folder (local disk, a mounted share, a USB disk carried to the
ward) or a URL served by `releve vault serve` (docs/format.md, "HTTP API").

One interface to read, whatever the place (`Source`: the config's bytes, the listing
after a number, a segment fetched into a file with its signature), used by a station's
sync and a writer's rebuild; one to append (`Target`: the config, the head, a segment
staged then committed), used by the writer. Nothing read here is trusted yet: chain.py
checks it.
"""

from __future__ import annotations

import base64
import functools
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol, TypeVar

import httpx

from ..files import create_private
from . import format as fmt
from .chain import Listed, Walked, hash_file
from .format import Config, SegmentInfo, VaultError
from .minisign import MinisignError, Signature
from .s3 import S3Vault
from .s3_client import is_s3
from .store import AppendRefused, LocalVault, Staged, Stager, segment_numbers

API = "/v1"
READ_SIZE = 1 << 20
TIMEOUT = 60.0
RESET_RETRIES = 2  # a broken connection's read is tried twice more, on a new connection
T = TypeVar("T")


class Source(Protocol):
    """A vault to read from."""

    @property
    def config(self) -> Config: ...
    def config_bytes(self) -> bytes: ...
    def head(self) -> tuple[int, str]: ...
    def listing(self, after: int) -> list[Listed]: ...
    def fetch(self, seq: int, target: Path, limit: int | None = None) -> bytes: ...


class Target(Protocol):
    """A vault to append to: LocalVault (store.py) or HttpVault."""

    @property
    def config(self) -> Config: ...
    def head(self) -> tuple[int, str]: ...
    def has(self, seq: int, sha256: str) -> bool: ...
    def stager(self, scratch: Path | None = None) -> Stager: ...
    # the vault's receipt: a SegmentInfo from LocalVault, the server's JSON from HttpVault
    def commit(self, seq: int, staged: Staged, signature: str | bytes) -> SegmentInfo | dict: ...


def open_source(vault: str, token: str | None = None) -> Source:
    """A vault to read, by folder, URL (with the reader token) or s3:// URL (with the
    S3 ecosystem's credentials)."""
    if vault.startswith(("http://", "https://")):
        return HttpVault(vault, token)
    if is_s3(vault):
        return S3Vault(vault)
    return FolderSource(Path(vault))


def open_target(vault: str, token: str | None = None) -> Target:
    """A vault to append to, by folder, URL (with the writer token) or s3:// URL."""
    if vault.startswith(("http://", "https://")):
        return HttpVault(vault, token, role="writer")
    if is_s3(vault):
        return S3Vault(vault)
    return LocalVault(Path(vault))



def open_walked(vault: str, endpoint: str | None = None, region: str | None = None) -> Walked:
    """A vault to read whole (verify, cat, the way back's comparison): a folder, or a
    bucket's prefix."""
    if is_s3(vault):
        return S3Vault(vault, endpoint, region)
    return LocalVault(Path(vault))


# --- a folder -------------------------------------------------------------------------------------


class FolderSource:
    """A vault folder, read only: nothing is written to it, so a read-only medium will do."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.segments = self.root / fmt.SEGMENTS_DIR
        if not (self.root / fmt.CONFIG_NAME).exists():
            raise VaultError(f"{self.root} is not a vault (no {fmt.CONFIG_NAME})")

    def config_bytes(self) -> bytes:
        return (self.root / fmt.CONFIG_NAME).read_bytes()

    @functools.cached_property
    def config(self) -> Config:
        return Config.parse(self.config_bytes())

    def head(self) -> tuple[int, str]:
        """(last sequence number, its SHA-256), or (0, genesis) for an empty vault."""
        numbers = self._numbers()
        if not numbers:
            return 0, self.config.genesis
        return numbers[-1], hash_file(self.segments / fmt.segment_name(numbers[-1]))[0]

    def listing(self, after: int) -> list[Listed]:
        return [self._hint(seq) for seq in self._numbers() if seq > after]

    def _numbers(self) -> list[int]:
        return segment_numbers(self.segments)

    def _hint(self, seq: int) -> Listed:
        try:
            signature = Signature.parse((self.segments / fmt.signature_name(seq)).read_bytes())
            descriptor = fmt.Descriptor.from_comment(signature.trusted_comment)
            size = (self.segments / fmt.segment_name(seq)).stat().st_size
            return Listed(seq, "", descriptor.kind, descriptor.suspect is not None, size)
        except (OSError, MinisignError, fmt.FormatError):
            return Listed(seq, "", "delta", False)  # the real check happens on fetch

    def fetch(self, seq: int, target: Path, limit: int | None = None) -> bytes:
        path = self.segments / fmt.segment_name(seq)
        try:
            signature = (self.segments / fmt.signature_name(seq)).read_bytes()
            if limit is not None and path.stat().st_size > limit:
                raise VaultError(too_long(seq, limit))
            create_private(target)
            shutil.copyfile(path, target)
        except FileNotFoundError as exc:
            raise VaultError(f"segment {seq} is listed but missing from {self.root}") from exc
        return signature


# --- a URL ----------------------------------------------------------------------------------------


class HttpVault:
    """A vault served over HTTP: read with the reader token, appended to with the writer's
    (`role` names which one an operator should give when the token is refused)."""

    def __init__(self, url: str, token: str | None, timeout: float = TIMEOUT,
                 role: str = "reader"):
        self.url = url.rstrip("/")
        self.role = role
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    # --- reading

    def config_bytes(self) -> bytes:
        response = self._get(f"{API}/config")
        _json_of(response, self.url)  # a proxy's page is not mistaken for another vault
        return response.content

    @functools.cached_property
    def config(self) -> Config:
        return Config.parse(self.config_bytes())

    def listing(self, after: int) -> list[Listed]:
        listed = []
        try:
            items = list(self._json(f"{API}/segments", after=after)["segments"])
        except (KeyError, TypeError) as exc:
            raise VaultError(f"vault at {self.url} sent a malformed listing ({exc!r})") from exc
        for item in items:
            try:
                descriptor = fmt.Descriptor.from_comment(item["descriptor"])
                size = item.get("size")
                listed.append(Listed(int(item["seq"]), str(item["sha256"]), descriptor.kind,
                                     descriptor.suspect is not None,
                                     None if size is None else int(size)))
            except (KeyError, TypeError, ValueError, AttributeError, fmt.FormatError) as exc:
                raise VaultError(f"vault at {self.url} sent a malformed listing ({exc})") from exc
        return sorted(listed, key=lambda entry: entry.seq)

    def fetch(self, seq: int, target: Path, limit: int | None = None) -> bytes:
        """The segment's body streamed into `target`, counted: past `limit` bytes the
        download stops and the partial copy is removed, so a vault (or whatever answers
        in its place) cannot fill the reader's disk."""
        signature = self._get(f"{API}/segments/{seq}/signature").content

        def download() -> None:
            with self.client.stream("GET", f"{API}/segments/{seq}") as response:
                self._raise_for(response)
                create_private(target)
                _stream_into(response, target, limit, seq)

        try:
            _again_on_reset(download)
        except httpx.HTTPError as exc:
            target.unlink(missing_ok=True)
            raise VaultError(f"vault at {self.url}: download of segment {seq} cut ({exc})") from exc
        return signature

    def head(self) -> tuple[int, str]:
        data = self._json(f"{API}/head")
        try:
            return int(data["seq"]), str(data["sha256"])
        except (KeyError, TypeError, ValueError) as exc:
            raise VaultError(f"vault at {self.url} sent a malformed head ({exc!r})") from exc

    def has(self, seq: int, sha256: str) -> bool:
        try:
            response = _again_on_reset(lambda: self.client.get(f"{API}/segments/{seq}/info"))
        except httpx.HTTPError as exc:
            raise VaultError(f"vault at {self.url} unreachable: {exc}") from exc
        if response.status_code == 404:
            return False
        self._raise_for(response)
        return response.json()["sha256"] == sha256

    # --- appending

    def stager(self, scratch: Path | None = None) -> Stager:
        """Ciphertext is staged in the writer's own `scratch` folder, then uploaded."""
        if scratch is None:
            raise ValueError("a vault over HTTP stages segments in the writer's folder")
        return Stager(scratch)

    def commit(self, seq: int, staged: Staged, signature: str | bytes) -> dict:
        try:
            with open(staged.path, "rb") as handle:
                return self.append(seq, handle, signature)
        finally:
            staged.path.unlink(missing_ok=True)

    def append(self, seq: int, source: BinaryIO, signature: str | bytes) -> dict:
        text = signature if isinstance(signature, bytes) else signature.encode()
        headers = {"X-Releve-Signature": base64.b64encode(text).decode(),
                   "Content-Type": "application/octet-stream"}
        try:
            response = self.client.put(f"{API}/segments/{seq}", content=_chunks(source),
                                       headers=headers)
        except httpx.HTTPError as exc:
            raise VaultError(f"vault at {self.url} unreachable during append: {exc}") from exc
        if response.status_code in (403, 409):
            raise AppendRefused(_detail(response), conflict=response.status_code == 409)
        self._raise_for(response)
        return response.json()

    def close(self) -> None:
        self.client.close()

    # --- answers

    def _get(self, path: str, **params: int) -> httpx.Response:
        try:
            response = _again_on_reset(lambda: self.client.get(path, params=params or None))
        except httpx.HTTPError as exc:
            raise VaultError(f"vault at {self.url} unreachable: {exc}") from exc
        self._raise_for(response)
        return response

    def _json(self, path: str, **params: int) -> dict:
        """A JSON object from the vault; anything else (a proxy's HTML page, an answer
        cut short) is a VaultError, not a crash."""
        return _json_of(self._get(path, **params), self.url)

    def _raise_for(self, response: httpx.Response) -> None:
        if response.status_code == 401:
            raise VaultError(f"vault at {self.url} refused the token (401): use the "
                             f"{self.role} token")
        if response.status_code >= 400:
            response.read()
            raise VaultError(f"vault at {self.url} answered {response.status_code}: "
                             f"{_detail(response)}")


def _json_of(response: httpx.Response, url: str) -> dict:
    try:
        data = response.json()
    except ValueError:
        raise VaultError(f"vault at {url} answered {response.url.path} with something that is "
                         f"not JSON ({response.headers.get('content-type', 'no type')}, "
                         f"{len(response.content)} bytes): a proxy, or an answer cut short?") from None
    if not isinstance(data, dict):
        raise VaultError(f"vault at {url} answered {response.url.path} with JSON that is not an object")
    return data


def _again_on_reset(read: Callable[[], T]) -> T:
    """A read tried again when the connection broke under it (reset, closed before the
    answer): a server's keep-alive timer may close a pooled connection just as a request
    goes out on it, and 600 stations polling one `vault serve` met it (bench/fleet.py).
    Reads are idempotent; time-outs are not retried (the server is there, and slow)."""
    for attempt in range(RESET_RETRIES + 1):
        try:
            return read()
        except (httpx.NetworkError, httpx.RemoteProtocolError):
            if attempt == RESET_RETRIES:
                raise
            time.sleep(0.2 * 2 ** attempt)
    raise AssertionError("unreachable")


def too_long(seq: int, limit: int) -> str:
    return f"segment {seq} is longer than {limit} bytes: download stopped"


def _stream_into(response: httpx.Response, target: Path, limit: int | None, seq: int) -> None:
    """Write the body into `target`; past `limit` bytes, remove it and raise."""
    written = 0
    try:
        with open(target, "wb") as out:
            for chunk in response.iter_bytes(READ_SIZE):
                written += len(chunk)
                if limit is not None and written > limit:
                    raise VaultError(too_long(seq, limit))
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def _chunks(source: BinaryIO) -> Iterator[bytes]:
    yield from iter(lambda: source.read(READ_SIZE), b"")


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", response.text))
    except (ValueError, AttributeError):
        return response.text
