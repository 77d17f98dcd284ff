"""The vault's network face: read segments with a reader token, append with the writer's.

There is deliberately no route that deletes or replaces anything: the only write is
PUT of the next segment number, checked by the same `LocalVault.commit` as a local
import. Every other method is answered 405, a taken number 409, a bad signature 403.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import re

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from .store import AppendRefused, LocalVault, SegmentInfo, VaultError

log = logging.getLogger("releve.vault.server")
MAX_SEGMENT_BYTES = 8 * 1024 ** 3
_NUMBER = re.compile(r"[0-9]{1,10}")  # ASCII digits only: str.isdigit() accepts '²' and '١'


class _Infos:
    """Segment hashes and descriptors, computed once: a segment never changes."""

    def __init__(self, vault: LocalVault):
        self.vault = vault
        self.known: dict[int, SegmentInfo] = {}

    def get(self, seq: int) -> SegmentInfo:
        if seq not in self.known:
            self.known[seq] = self.vault.info(seq)
        return self.known[seq]

    def after(self, after: int) -> list[SegmentInfo]:
        return [self.get(seq) for seq in self.vault.sequence_numbers() if seq > after]


def create_app(vault: LocalVault, writer_token: str, reader_token: str) -> Starlette:
    if not writer_token or not reader_token or writer_token == reader_token:
        raise VaultError("the writer and reader tokens must both be set, and differ")
    infos = _Infos(vault)

    def role(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        if token and hmac.compare_digest(token.encode(), writer_token.encode()):
            return "writer"
        if token and hmac.compare_digest(token.encode(), reader_token.encode()):
            return "reader"
        return None

    def denied(request: Request) -> Response | None:
        if role(request) is None:
            return _error(401, "a valid bearer token is required")
        return None

    def seq_of(request: Request) -> int | None:
        text = request.path_params["seq"]
        return int(text) if _NUMBER.fullmatch(text) and 0 < int(text) < 10 ** 10 else None

    async def config(request: Request) -> Response:
        return denied(request) or Response(vault.config.raw, media_type="application/json")

    async def head(request: Request) -> Response:
        if (refusal := denied(request)) is not None:
            return refusal
        seq, sha = await run_in_threadpool(vault.head)
        return JSONResponse({"seq": seq, "sha256": sha})

    async def listing(request: Request) -> Response:
        if (refusal := denied(request)) is not None:
            return refusal
        after = request.query_params.get("after", "0")
        if not _NUMBER.fullmatch(after):
            return _error(400, "after must be a segment number")
        try:
            found = await run_in_threadpool(infos.after, int(after))
        except VaultError as exc:
            log.error("vault not sound: %s", exc)
            return _error(500, f"vault not sound: {exc}")
        return JSONResponse({"segments": [i.to_json() for i in found]})

    async def segment(request: Request) -> Response:
        if (refusal := denied(request)) is not None:
            return refusal
        seq = seq_of(request)
        if seq is None:
            return _error(404, "no such segment")
        if request.method == "PUT":
            return await append(request, seq)
        path = vault.segment_path(seq)
        if not path.exists():
            return _error(404, "no such segment")
        return FileResponse(path, media_type="application/octet-stream")

    async def signature(request: Request) -> Response:
        if (refusal := denied(request)) is not None:
            return refusal
        seq = seq_of(request)
        if seq is None or not vault.segment_path(seq).exists():
            return _error(404, "no such segment")
        return FileResponse(vault.signature_path(seq), media_type="text/plain")

    async def info(request: Request) -> Response:
        if (refusal := denied(request)) is not None:
            return refusal
        seq = seq_of(request)
        if seq is None or not vault.segment_path(seq).exists():
            return _error(404, "no such segment")
        try:
            return JSONResponse((await run_in_threadpool(infos.get, seq)).to_json())
        except VaultError as exc:
            log.error("vault not sound: %s", exc)
            return _error(500, f"vault not sound: {exc}")

    async def append(request: Request, seq: int) -> Response:
        if role(request) != "writer":
            return _error(403, "appending needs the writer token")
        try:
            sig = base64.b64decode(request.headers.get("x-releve-signature", ""), validate=True)
        except (binascii.Error, ValueError):
            return _error(400, "X-Releve-Signature must be the base64 of the .minisig file")
        if not sig:
            return _error(400, "X-Releve-Signature header is required")
        stager = vault.stager()
        try:
            size = 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_SEGMENT_BYTES:
                    stager.abort()
                    return _error(413, "segment too large")
                stager.write(chunk)
        except BaseException:
            stager.abort()
            raise
        staged = stager.finish()
        try:
            result = await run_in_threadpool(vault.commit, seq, staged, sig)
        except AppendRefused as exc:
            log.warning("append of segment %s refused: %s", seq, exc)
            return _error(409 if exc.conflict else 403, str(exc))
        infos.known[seq] = result
        log.info("segment %s appended (%s bytes)", seq, result.size)
        return JSONResponse(result.to_json(), status_code=201)

    routes = [
        Route("/v1/config", config, methods=["GET"]),
        Route("/v1/head", head, methods=["GET"]),
        Route("/v1/segments", listing, methods=["GET"]),
        Route("/v1/segments/{seq}", segment, methods=["GET", "PUT"]),
        Route("/v1/segments/{seq}/signature", signature, methods=["GET"]),
        Route("/v1/segments/{seq}/info", info, methods=["GET"]),
    ]
    return Starlette(routes=routes)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
