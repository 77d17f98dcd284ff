"""A vault reached over HTTP (see docs/format.md, "HTTP API"): same calls as LocalVault."""

from __future__ import annotations

import base64
from typing import BinaryIO

import httpx

from .store import AppendRefused, Config, SegmentInfo, VaultError
from . import format as fmt

API = "/v1"


class HttpVault:
    def __init__(self, url: str, token: str | None, timeout: float = 60.0):
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)
        self.config = Config.parse(self._get(f"{API}/config").content)

    def _get(self, path: str, **params) -> httpx.Response:
        try:
            response = self.client.get(path, params=params or None)
        except httpx.HTTPError as exc:
            raise VaultError(f"vault at {self.url} unreachable: {exc}") from exc
        _raise_for(response, self.url)
        return response

    def head(self) -> tuple[int, str]:
        data = self._get(f"{API}/head").json()
        return int(data["seq"]), str(data["sha256"])

    def has(self, seq: int, sha256: str) -> bool:
        try:
            response = self.client.get(f"{API}/segments/{seq}/info")
        except httpx.HTTPError as exc:
            raise VaultError(f"vault at {self.url} unreachable: {exc}") from exc
        if response.status_code == 404:
            return False
        _raise_for(response, self.url)
        return response.json()["sha256"] == sha256

    def list(self, after: int = 0) -> list[dict]:
        return self._get(f"{API}/segments", after=after).json()["segments"]

    def append(self, seq: int, source: BinaryIO, signature: str) -> dict:
        headers = {"X-Releve-Signature": base64.b64encode(signature.encode()).decode(),
                   "Content-Type": "application/octet-stream"}
        try:
            response = self.client.put(f"{API}/segments/{seq}", content=_chunks(source),
                                       headers=headers)
        except httpx.HTTPError as exc:
            raise VaultError(f"vault at {self.url} unreachable during append: {exc}") from exc
        if response.status_code in (403, 409):
            raise AppendRefused(_detail(response), conflict=response.status_code == 409)
        _raise_for(response, self.url)
        return response.json()

    def download(self, seq: int, out: BinaryIO) -> None:
        with self.client.stream("GET", f"{API}/segments/{seq}") as response:
            _raise_for(response, self.url)
            for chunk in response.iter_bytes():
                out.write(chunk)

    def signature(self, seq: int) -> bytes:
        return self._get(f"{API}/segments/{seq}/signature").content


def _chunks(source: BinaryIO):
    yield from iter(lambda: source.read(1 << 20), b"")


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", response.text))
    except ValueError:
        return response.text


def _raise_for(response: httpx.Response, url: str) -> None:
    if response.status_code == 401:
        raise VaultError(f"vault at {url} refused the token (401)")
    if response.status_code >= 400:
        response.read()
        raise VaultError(f"vault at {url} answered {response.status_code}: {_detail(response)}")


__all__ = ["HttpVault", "SegmentInfo", "fmt"]
