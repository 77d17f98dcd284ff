"""The vault's network face: read segments with a reader token, append with the writer's.

There is deliberately no route that deletes or replaces anything: the only write is
PUT of the next segment number, checked by the same `LocalVault.commit` as a local
import. Every other method is answered 405, a taken number 409, a bad signature 403.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import re
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from .store import AppendRefused, LocalVault, SegmentInfo, Staged, UploadLimits, VaultError

log = logging.getLogger("releve.vault.server")
MAX_SEGMENT_BYTES = 8 * 1024 ** 3
_NUMBER = re.compile(r"[0-9]{1,10}")  # ASCII digits only: str.isdigit() accepts '²' and '١'
MIN_TOKEN_LENGTH = 32  # secrets.token_urlsafe(24) and up: no guessing it over the network
MAKE_TOKEN = "releve keys token --out FILE"  # then --writer-token-file FILE
UPLOADS = UploadLimits()  # the defaults of `releve vault serve`


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


def create_app(vault: LocalVault, writer_token: str, reader_token: str,
               limits: UploadLimits = UPLOADS) -> Starlette:
    """The vault's routes; at most `limits.most` uploads are staged at once, each cut when
    it stalls for `limits.idle` seconds."""
    check_tokens(writer_token, reader_token)
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
        try:
            seq, sha = await run_in_threadpool(vault.head)
        except VaultError as exc:
            log.error("vault not sound: %s", exc)
            return _error(500, f"vault not sound: {exc}")
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
        return stored(seq, vault.segment_path(seq), "application/octet-stream")

    async def signature(request: Request) -> Response:
        if (refusal := denied(request)) is not None:
            return refusal
        seq = seq_of(request)
        if seq is None:
            return _error(404, "no such segment")
        return stored(seq, vault.signature_path(seq), "text/plain")

    def stored(seq: int, path: Path, media_type: str) -> Response:
        """A file of segment `seq` as the vault holds it: 404 when it or the segment is
        absent, 500 when either is not a plain file (a symbolic link planted there)."""
        try:
            found = vault.stored_file(vault.segment_path(seq)) and vault.stored_file(path)
        except VaultError as exc:
            log.error("segment %s refused: %s", seq, exc)
            return _error(500, f"vault not sound: {exc}")
        if found is None:
            return _error(404, "no such segment")
        return FileResponse(found, media_type=media_type)

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

    uploading = 0  # requests whose segment is being received or committed

    async def append(request: Request, seq: int) -> Response:
        if role(request) != "writer":
            return _error(403, "appending needs the writer token")
        try:
            sig = base64.b64decode(request.headers.get("x-releve-signature", ""), validate=True)
        except (binascii.Error, ValueError):
            return _error(400, "X-Releve-Signature must be the base64 of the .minisig file")
        if not sig:
            return _error(400, "X-Releve-Signature header is required")
        nonlocal uploading
        if uploading >= limits.most:
            log.warning("append of segment %s refused: %s uploads in progress", seq, uploading)
            return _error(503, f"the vault is already receiving {limits.most} segments; "
                               "try again shortly", {"Retry-After": "5"})
        uploading += 1
        try:
            staged = await receive(request)
            if isinstance(staged, Response):
                return staged
            result = await run_in_threadpool(vault.commit, seq, staged, sig)
        except AppendRefused as exc:
            log.warning("append of segment %s refused: %s", seq, exc)
            return _error(409 if exc.conflict else 403, str(exc))
        finally:
            uploading -= 1
        infos.known[seq] = result
        log.info("segment %s appended (%s bytes)", seq, result.size)
        return JSONResponse(result.to_json(), status_code=201)

    async def receive(request: Request) -> Staged | Response:
        """The request's body staged, or the answer that refuses it: a body too large, or
        one whose next bytes do not come within `limits.idle` seconds. A refused or cut
        upload leaves nothing in the staging folder."""
        stager = vault.stager()
        chunks = request.stream()
        try:
            size = 0
            while True:
                try:
                    chunk = await asyncio.wait_for(anext(chunks), limits.idle)
                except StopAsyncIteration:
                    return stager.finish()
                except ClientDisconnect:  # the writer went, or the server cut a stalled body
                    stager.abort()
                    log.warning("upload of a segment cut: the connection closed")
                    return Response(status_code=400)  # to nobody: the connection is gone
                except TimeoutError:
                    stager.abort()
                    log.warning("upload dropped: no bytes for %g s", limits.idle)
                    return _error(408, f"upload stalled for more than {limits.idle:g} s: dropped",
                                  {"Connection": "close"})
                size += len(chunk)
                if size > MAX_SEGMENT_BYTES:
                    stager.abort()
                    return _error(413, "segment too large")
                stager.write(chunk)
        except BaseException:
            stager.abort()
            raise

    routes = [
        Route("/v1/config", config, methods=["GET"]),
        Route("/v1/head", head, methods=["GET"]),
        Route("/v1/segments", listing, methods=["GET"]),
        Route("/v1/segments/{seq}", segment, methods=["GET", "PUT"]),
        Route("/v1/segments/{seq}/signature", signature, methods=["GET"]),
        Route("/v1/segments/{seq}/info", info, methods=["GET"]),
    ]
    return Starlette(routes=routes)


def check_tokens(writer_token: str, reader_token: str) -> None:
    """Refuse to serve with tokens one could guess: missing, equal, or short."""
    if not writer_token or not reader_token or writer_token == reader_token:
        raise VaultError("the writer and reader tokens must both be set, and differ")
    for role, token in (("writer", writer_token), ("reader", reader_token)):
        if len(token) < MIN_TOKEN_LENGTH:
            raise VaultError(f"the {role} token is {len(token)} characters long; it must have "
                             f"at least {MIN_TOKEN_LENGTH}. Make one with `{MAKE_TOKEN}` or "
                             "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)
