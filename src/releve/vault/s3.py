"""A vault in an S3 bucket with Object Lock (docs/s3.md): `s3://BUCKET/PREFIX`.

The objects are the folder vault's files under PREFIX (`config.json`,
`segments/0000000001.age` and its `.minisig`), each put once with Object Lock in
COMPLIANCE mode, retained for the bucket's default retention: no credential of the
hospital's, the bucket owner's included, can delete or shorten them. What an attacker
holding a writer's credentials can still do is put another version over a name; so this
vault is read from the versions (s3_versions.py), each name's oldest version that the
chain and the signatures accept, and never from the plain listing.

The same two interfaces as a folder or a URL (source.py's Source and Target), and the
reading that `vault verify` and `vault cat` need (sequence_numbers, info, segment_path),
each segment downloaded into a small private cache. The client is s3_client.py's.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import functools
import hashlib
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from . import format as fmt
from .chain import Listed, check_file, check_signature, hash_file
from .errors import VaultError
from .format import Config, SegmentInfo
from .minisign import MinisignError, Signature
from .s3_client import LOCK_MODE, answers, error_code, parse_url, s3_client
from .s3_versions import Version, Versions, anomalies, segment_key, signature_key
from .store import Staged, Stager, check_append, new_config

CACHED_SEGMENTS = 3  # downloaded segments kept for a verify or a cat that reads one twice
READ_SIZE = 1 << 20


class S3Vault:
    """A vault in a versioned bucket with Object Lock: read (Source), appended (Target),
    walked (for verify and cat)."""

    def __init__(self, url: str, endpoint: str | None = None, region: str | None = None,
                 client: Any = None) -> None:
        self.url = url.rstrip("/")
        self.bucket, self.prefix = parse_url(url)
        self.client = client if client is not None else s3_client(endpoint, region)
        self._head: tuple[int, str] | None = None  # the head this process last saw or wrote
        self._adopted: dict[str, Version] = {}  # name: the version read as the vault's
        self._cache_dir: Path | None = None
        self._cached: dict[int, Path] = {}
        self._retention: int | None = None
        self._config_raw: bytes | None = None
        self._signatures: dict[int, bytes] = {}  # seq: the signature its cached copy came with

    # --- creation -------------------------------------------------------------------------------

    @classmethod
    def init(cls, url: str, recipients: list[str], signer_keys: list[str],
             checkpoint_interval: int = 50, retention_days: int = 0,
             endpoint: str | None = None, region: str | None = None) -> S3Vault:
        """Create an empty vault under the prefix of a bucket that has Object Lock, and set
        the bucket's default retention (COMPLIANCE, `retention_days`)."""
        if retention_days < 1:
            raise VaultError("a vault on S3 needs --retention-days of at least 1")
        vault = cls(url, endpoint, region)
        vault._check_lock_enabled()
        if vault._list(fmt.CONFIG_NAME).objects(fmt.CONFIG_NAME) or vault._list("").by_key:
            raise VaultError(f"{vault.url} already holds objects; a vault is created under a "
                             "new prefix")
        raw = new_config(recipients, signer_keys, checkpoint_interval)
        with answers(vault.url, "setting the default retention"):
            vault.client.put_object_lock_configuration(
                Bucket=vault.bucket, ObjectLockConfiguration={
                    "ObjectLockEnabled": "Enabled",
                    "Rule": {"DefaultRetention": {"Mode": LOCK_MODE, "Days": retention_days}}})
        vault._put(fmt.CONFIG_NAME, raw, retention_days)
        return vault

    def _check_lock_enabled(self) -> None:
        """Refuse, by name, a bucket without Object Lock: there the vault's promise (no
        deletion, no rewrite) would rest on credentials alone."""
        from botocore.exceptions import ClientError

        try:
            answer = self.client.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError as exc:
            code = error_code(exc)
            if code in ("ObjectLockConfigurationNotFoundError", "InvalidRequest"):
                raise VaultError(f"bucket {self.bucket} has no Object Lock: create it with Object "
                                 "Lock enabled (it cannot be added to a bucket later on every "
                                 "store)") from None
            with answers(self.url, "reading the bucket's Object Lock"):
                raise
        if answer.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") != "Enabled":
            raise VaultError(f"bucket {self.bucket} has no Object Lock enabled")

    # --- reading: Source ------------------------------------------------------------------------

    def config_bytes(self) -> bytes:
        """The first config ever put: a later version would be another vault's. Read once
        per vault object (a station's sync asks for the bytes, then the parsed config)."""
        if self._config_raw is None:
            versions = self._list(fmt.CONFIG_NAME).objects(fmt.CONFIG_NAME)
            if not versions:
                raise VaultError(f"{self.url} is not a vault (no {fmt.CONFIG_NAME})")
            self._adopted[fmt.CONFIG_NAME] = versions[0]
            self._config_raw = self._get(versions[0])
        return self._config_raw

    @functools.cached_property
    def config(self) -> Config:
        return Config.parse(self.config_bytes())

    def listing(self, after: int) -> list[Listed]:
        """What follows segment `after`, as hints (kind and suspect from the first signature
        by a configured signer); fetch picks the versions and the chain checks them."""
        versions = self._segments(after)
        listed = []
        for seq in versions.numbers():
            if seq <= after:
                continue
            segment = versions.objects(segment_key(seq))[0]
            listed.append(self._hint(seq, segment, versions.objects(signature_key(seq))))
        return listed

    def _hint(self, seq: int, segment: Version, signatures: list[Version]) -> Listed:
        """The kind a segment's signature announces. A name may hold several signatures: an
        append cut short leaves its own, locked, under the number the next append takes,
        and that one may be of another kind (a checkpoint killed, then a delta), as may a
        signature copied there by someone holding the writer's S3 keys. Stations plan from
        these hints (a new one starts at the latest checkpoint), so with more than one, the
        hint is read from the signature that accepts the hash the writer put beside the
        segment: the one fetch adopts."""
        digest = None
        if len(signatures) > 1:
            try:
                digest = bytes.fromhex(self._metadata(segment)["blake2b"])
            except (KeyError, ValueError):
                signatures = []  # not put by Relève: fetch says what is wrong
        for version in signatures:
            try:
                text = self._get(version)
                if digest is not None:
                    descriptor = check_signature(self.config, seq, text, digest)
                else:
                    signature = Signature.parse(text)
                    if self.config.signer(signature.key_id) is None:
                        continue
                    descriptor = fmt.Descriptor.from_comment(signature.trusted_comment)
                return Listed(seq, "", descriptor.kind, descriptor.suspect is not None,
                              segment.size)
            except (MinisignError, VaultError):
                continue
        return Listed(seq, "", "delta", False, segment.size)  # the real check is on fetch

    def fetch(self, seq: int, target: Path, limit: int | None = None) -> bytes:
        """Segment `seq` into `target`, with its signature: of all the versions under the
        two names, the oldest segment that a signature by a configured signer accepts."""
        versions = self._list(segment_key(seq))
        segments = versions.objects(segment_key(seq))
        signatures = [(v, self._get(v)) for v in versions.objects(signature_key(seq))]
        if not segments:
            raise VaultError(f"segment {seq} is listed but missing from {self.url}")
        if not signatures:
            raise VaultError(f"segment {seq}: signature is missing")
        for segment in segments:
            if limit is not None and segment.size > limit:
                raise VaultError(f"segment {seq} is longer than {limit} bytes: download stopped")
            self._download(segment, target, limit)
            if len(segments) == 1 and len(signatures) == 1:  # the usual case: the caller checks
                self._adopt(seq, segment, signatures[0][0])
                return signatures[0][1]
            _, b2, _ = hash_file(target)
            for signature, text in signatures:
                with contextlib.suppress(VaultError):
                    check_signature(self.config, seq, text, b2)
                    self._adopt(seq, segment, signature)
                    return text
        return signatures[0][1]  # none is sound: the caller's check says why

    def _adopt(self, seq: int, segment: Version, signature: Version) -> None:
        self._adopted[segment_key(seq)] = segment
        self._adopted[signature_key(seq)] = signature

    def head(self) -> tuple[int, str]:
        """(last sequence number, its SHA-256), or (0, genesis). The hash is the one the
        writer put in the segment's metadata, trusted only once the segment's signature
        accepts the BLAKE2b beside it: what a writer appends after is checked by every
        reader anyway."""
        after = self._head[0] - 1 if self._head else 0
        numbers = self._segments(max(after, 0)).numbers()
        if not numbers:
            if self._head and self._head[0] > 0:
                raise VaultError(f"{self.url}: segment {self._head[0]} was seen, and is gone")
            return 0, self.config.genesis
        seq = numbers[-1]
        if self._head and self._head[0] == seq:
            return self._head
        self._head = (seq, self._signed_hash(seq))
        return self._head

    def _signed_hash(self, seq: int) -> str:
        versions = self._list(segment_key(seq))
        segment = versions.objects(segment_key(seq))[0]
        meta = self._metadata(segment)
        try:
            sha, b2 = meta["sha256"], bytes.fromhex(meta["blake2b"])
        except (KeyError, ValueError):
            raise VaultError(f"{self.url}: segment {seq} has no hashes in its metadata (not put "
                             "by Relève?): run `releve vault verify`") from None
        for signature in versions.objects(signature_key(seq)):
            with contextlib.suppress(VaultError):
                check_signature(self.config, seq, self._get(signature), b2)
                return sha
        raise VaultError(f"{self.url}: segment {seq}, the last, is not signed by a configured "
                         "signer (put by someone else?): run `releve vault verify`")

    def has(self, seq: int, sha256: str) -> bool:
        """Whether segment `seq` was put with exactly this hash (a crash settled)."""
        segments = self._list(segment_key(seq)).objects(segment_key(seq))
        return bool(segments) and self._metadata(segments[0]).get("sha256") == sha256

    # --- appending: Target ---------------------------------------------------------------------

    def stager(self, scratch: Path | None = None) -> Stager:
        if scratch is None:
            raise ValueError("a vault on S3 stages segments in the writer's folder")
        return Stager(scratch)

    def commit(self, seq: int, staged: Staged, signature: str | bytes) -> SegmentInfo:
        """Put the signature, then the segment: a segment is committed once its object
        exists, and a crash between the two leaves only a signature that the next append
        puts again (a harmless older version). S3 puts are whole or absent, so no half
        segment is ever listed. Nothing is conditional (If-None-Match is not honoured on
        versioned buckets by every store): the head is checked first, and one writer
        appends to a vault at a time (its state's lock)."""
        try:
            sig_text, descriptor = check_append(self.config, self.head(), seq, staged, signature)
            days = self.retention_days()
            self._put(signature_key(seq), sig_text, days)
            with open(staged.path, "rb") as body:
                etag = self._put(segment_key(seq), body, days, metadata={
                    "sha256": staged.sha256, "blake2b": staged.blake2b.hex()})
            self._check_first(seq, etag)
            self._head = (seq, staged.sha256)
            return SegmentInfo(seq, staged.sha256, staged.size, descriptor)
        finally:
            staged.path.unlink(missing_ok=True)

    def _check_first(self, seq: int, etag: str) -> None:
        """Readers adopt a number's oldest segment. Puts are not conditional, so two writers
        (two states with one key: a fork, a restored backup) may both put segment `seq`, and
        the one put second is never read: say so instead of confirming it, as its writer's
        next segment would chain on bytes no reader follows, a break locked in place. The
        writer's state then drops the append (`has` is False) and the next run is refused
        until the state is rebuilt from the vault."""
        first = self._list(segment_key(seq)).objects(segment_key(seq))
        if etag and first and first[0].etag.strip('"') != etag.strip('"'):
            self._head = None
            raise VaultError(f"{self.url}: another writer put its own segment {seq} first (two "
                             "writers, or two copies of a writer's state, on one vault): this "
                             "one will never be read. Run `releve vault verify`, then rebuild "
                             "this writer's state with `releve vault rebuild-state`")

    def retention_days(self) -> int:
        """The bucket's default retention, in days, that every put repeats explicitly."""
        if self._retention is not None:
            return self._retention
        self._check_lock_enabled()
        with answers(self.url, "reading the bucket's Object Lock"):
            rule = self.client.get_object_lock_configuration(Bucket=self.bucket)[
                "ObjectLockConfiguration"].get("Rule", {}).get("DefaultRetention", {})
        days = int(rule.get("Days") or 0) or 365 * int(rule.get("Years") or 0)
        if days < 1 or rule.get("Mode") != LOCK_MODE:
            raise VaultError(f"bucket {self.bucket} has no default COMPLIANCE retention: run "
                             "`releve vault init` with --retention-days")
        self._retention = days
        return days

    def _put(self, name: str, body: Any, days: int, metadata: dict[str, str] | None = None) -> str:
        """One object, locked; its ETag. The retain-until date is counted on the real clock,
        not the product's (which tests and drills may pin): the store compares it with its
        own."""
        until = dt.datetime.fromtimestamp(time.time() + days * 86400, dt.UTC)
        data = body if isinstance(body, bytes) else None
        md5 = hashlib.md5(usedforsecurity=False)  # S3 asks for Content-MD5 with Object Lock
        if data is not None:
            md5.update(data)
        else:
            for chunk in iter(lambda: body.read(READ_SIZE), b""):
                md5.update(chunk)
            body.seek(0)
        with answers(self.url, f"put of {name}"):
            return str(self.client.put_object(
                Bucket=self.bucket, Key=self.prefix + name, Body=body,
                ContentMD5=base64.b64encode(md5.digest()).decode(), Metadata=metadata or {},
                ObjectLockMode=LOCK_MODE, ObjectLockRetainUntilDate=until).get("ETag", ""))

    # --- walking: verify and cat ----------------------------------------------------------------

    def sequence_numbers(self) -> list[int]:
        return self._segments(0).numbers()

    def info(self, seq: int) -> SegmentInfo:
        """Hash and descriptor of one segment (signature checked), downloaded once."""
        path = self.segment_path(seq)
        return check_file(self.config, seq, path, self._signatures[seq])

    def segment_path(self, seq: int) -> Path:
        """A private local copy of the segment this vault reads as `seq`."""
        if seq in self._cached and self._cached[seq].exists():
            return self._cached[seq]
        if self._cache_dir is None:
            self._cache_dir = Path(tempfile.mkdtemp(prefix="releve-s3-"))
        while len(self._cached) >= CACHED_SEGMENTS:
            self._cached.pop(min(self._cached)).unlink(missing_ok=True)
        path = self._cache_dir / fmt.segment_name(seq)
        self._signatures[seq] = self.fetch(seq, path)
        self._cached[seq] = path
        return path

    def stored_bytes(self) -> int:
        """The segments' size as listed (each name's first version), for progress bars."""
        versions = self._segments(0)
        return sum(versions.objects(segment_key(seq))[0].size for seq in versions.numbers())

    def anomalies(self) -> tuple[list[str], list[str]]:
        """(incidents, warnings) under the prefix, once every segment has been read: the
        versions that are not the vault's, and the locks of those that are."""
        from .s3_locks import lock_findings

        self.config_bytes()
        incidents, warnings = anomalies(self.versions(), self._adopted)
        unlocked, expired = lock_findings(self, self._adopted)
        return incidents + unlocked, warnings + expired

    def versions(self, name: str = "") -> Versions:
        """Every version under the prefix (or under `name` within it)."""
        return self._list(name)

    def close(self) -> None:
        if self._cache_dir is not None:
            shutil.rmtree(self._cache_dir, ignore_errors=True)
            self._cache_dir, self._cached = None, {}

    # --- the store ------------------------------------------------------------------------------

    def _segments(self, after: int) -> Versions:
        """The versions under segments/, from segment `after` on (keys sort as numbers)."""
        marker = f"{self.prefix}{segment_key(after)}" if after > 0 else ""
        return self._list(f"{fmt.SEGMENTS_DIR}/", marker)

    def _list(self, name: str, key_marker: str = "") -> Versions:
        listed: list[Version] = []
        options = {"Bucket": self.bucket, "Prefix": self.prefix + name}
        if key_marker:
            options["KeyMarker"] = key_marker
        with answers(self.url, "listing"):
            for page in self.client.get_paginator("list_object_versions").paginate(**options):
                listed += [_version(item, False) for item in page.get("Versions", [])]
                listed += [_version(item, True) for item in page.get("DeleteMarkers", [])]
        listed.sort(key=lambda v: v.key)  # stable: each key keeps its newest-first order
        return Versions(self.prefix, listed)

    def _get(self, version: Version) -> bytes:
        with answers(self.url, f"read of {version.key[len(self.prefix):]}"):
            return self.client.get_object(Bucket=self.bucket, Key=version.key,
                                          VersionId=version.version_id)["Body"].read()

    def _metadata(self, version: Version) -> dict[str, str]:
        with answers(self.url, f"read of {version.key[len(self.prefix):]}"):
            return dict(self.client.head_object(Bucket=self.bucket, Key=version.key,
                                                VersionId=version.version_id).get("Metadata", {}))

    def _download(self, version: Version, target: Path, limit: int | None) -> None:
        """Stream one version into a private file, counted against `limit`."""
        from ..files import create_private

        create_private(target)
        written = 0
        try:
            with answers(self.url, f"read of {version.key[len(self.prefix):]}"):
                body = self.client.get_object(Bucket=self.bucket, Key=version.key,
                                              VersionId=version.version_id)["Body"]
                with open(target, "wb") as out:
                    for chunk in body.iter_chunks(READ_SIZE):
                        written += len(chunk)
                        if limit is not None and written > limit:
                            raise VaultError(f"{version.key}: longer than {limit} bytes: "
                                             "download stopped")
                        out.write(chunk)
        except BaseException:
            target.unlink(missing_ok=True)
            raise


def _version(item: dict, marker: bool) -> Version:
    return Version(item["Key"], str(item.get("VersionId") or "null"), item["LastModified"],
                   int(item.get("Size") or 0), str(item.get("ETag") or ""), marker)
