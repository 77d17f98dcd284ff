"""The vault on disk: a config and numbered segments that are only ever appended.

Every append goes through `LocalVault.append`, whatever the caller (an import on the
vault's host, or the HTTP server on behalf of a remote capture), so the checks that make
the log trustworthy live in one place: the segment must be the next number, name the
current head's hash, be signed by a configured signer, and belong to this vault.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import hashlib
import os
import re
import secrets
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import orjson

from ..files import create_private, fsync_folder, private_folder
from . import format as fmt
from .chain import BrokenSegment, check_envelope, check_signature, hash_file
from .format import Config, SegmentInfo, VaultError
from .keys import KeyFileError, load_public_key, parse_recipient

CHUNK = 1 << 20


class AppendRefused(VaultError):
    """An append that would break the log (wrong number, wrong chain, bad signature)."""

    def __init__(self, message: str, conflict: bool = False):
        super().__init__(message)
        self.conflict = conflict  # True when the number is taken or not next: HTTP 409


@dataclass
class Staged:
    """A segment received into the vault's staging folder, hashed on the way in."""

    path: Path
    sha256: str
    blake2b: bytes
    size: int


@dataclass(frozen=True)
class UploadLimits:
    """Segment uploads the HTTP server stages at once (`most`), and how many seconds one
    may wait for its next bytes (`idle`) before it is dropped with its staged file: a
    writer sends one segment at a time, so a few suffice, and each holds a file in the
    staging folder and the disk space it fills."""

    most: int = 4
    idle: float = 300.0


class Stager:
    """Receives segment bytes chunk by chunk into the staging folder (not yet part of the log)."""

    def __init__(self, staging_dir: Path):
        fd, name = tempfile.mkstemp(dir=staging_dir, prefix="in-", suffix=".part")
        self._file = os.fdopen(fd, "wb")
        self._path = Path(name)
        self._sha = hashlib.sha256()
        self._b2 = hashlib.blake2b(digest_size=64)
        self._size = 0

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._sha.update(chunk)
        self._b2.update(chunk)
        self._size += len(chunk)

    def finish(self) -> Staged:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return Staged(self._path, self._sha.hexdigest(), self._b2.digest(), self._size)

    def abort(self) -> None:
        self._file.close()
        self._path.unlink(missing_ok=True)


class LocalVault:
    """A vault directory. Opening it reads the config; nothing here ever rewrites a segment."""

    def __init__(self, root: Path):
        self.root = Path(root)
        config_path = self.root / fmt.CONFIG_NAME
        try:
            raw = config_path.read_bytes()
        except FileNotFoundError as exc:
            raise VaultError(f"{self.root} is not a vault (no {fmt.CONFIG_NAME})") from exc
        self.config = Config.parse(raw)
        self.segments_dir = self.root / fmt.SEGMENTS_DIR
        self.staging_dir = self.root / fmt.STAGING_DIR
        self.staging_dir.mkdir(exist_ok=True, mode=0o700)
        self._known: dict[int, tuple[tuple[int, ...], str]] = {}  # seq: (identity, sha256)

    # --- creation -----------------------------------------------------------------

    @classmethod
    def init(cls, root: Path, recipients: list[str], signer_keys: list[str],
             checkpoint_interval: int = 50) -> LocalVault:
        root = Path(root)
        if root.exists() and any(root.iterdir()):
            raise VaultError(f"{root} exists and is not empty; a vault is created in a new folder")
        config = new_config(recipients, signer_keys, checkpoint_interval)
        for folder in (root, root / fmt.SEGMENTS_DIR, root / fmt.STAGING_DIR):
            private_folder(folder)
        _write_atomic(root / fmt.CONFIG_NAME, config)
        fsync_folder(root)
        return cls(root)

    # --- reading --------------------------------------------------------------------

    def sequence_numbers(self) -> list[int]:
        return segment_numbers(self.segments_dir)

    def segment_path(self, seq: int) -> Path:
        return self.segments_dir / fmt.segment_name(seq)

    def signature_path(self, seq: int) -> Path:
        return self.segments_dir / fmt.signature_name(seq)

    def stored_file(self, path: Path) -> Path | None:
        """`path` (a segment or signature) if the vault holds it as a plain file, None if
        it is absent. A symbolic link, in segments/ or as segments/ itself, is refused:
        the vault serves and hashes only what was appended to it, never a file elsewhere
        that a link planted in its folder points to."""
        for entry, plain, kind in ((self.segments_dir, stat.S_ISDIR, "folder"),
                                   (path, stat.S_ISREG, "file")):
            try:
                mode = os.lstat(entry).st_mode
            except FileNotFoundError:
                return None
            if not plain(mode):
                raise VaultError(f"{entry.name} is not a regular {kind} (a symbolic link, "
                                 "or another kind of file): refused")
        return path

    def info(self, seq: int) -> SegmentInfo:
        """Hash and descriptor of one segment (signature checked)."""
        path = self.stored_file(self.segment_path(seq))
        if path is None:
            raise VaultError(f"segment {seq} does not exist")
        sha, b2, size = hash_file(path)
        descriptor = self._check_signature(seq, b2)
        return SegmentInfo(seq, sha, size, descriptor)

    def head(self) -> tuple[int, str]:
        """(last sequence number, its SHA-256), or (0, genesis) for an empty vault."""
        numbers = self.sequence_numbers()
        if not numbers:
            return 0, self.config.genesis
        last = numbers[-1]
        return last, self._sha256_of(last)

    def has(self, seq: int, sha256: str) -> bool:
        """Whether segment `seq` exists with exactly this hash (used to settle a crash)."""
        try:
            return self._sha256_of(seq) == sha256
        except FileNotFoundError:
            return False

    def _sha256_of(self, seq: int) -> str:
        """A segment's SHA-256, hashed again only if its file is not the one last hashed.

        The head is asked for twice an append (the writer's check, then the commit's),
        and after a full capture at 1000 beds the last segment is 100 MB: 0.25 s each
        time. A segment is never rewritten, so its hash is kept, in this process, with
        the file's identity (device, inode, size, modification and change times, which
        no rewrite, copy or rename onto it leaves the same); whatever does not match is
        hashed again. A writer may hand over what an earlier process learnt
        (`hash_hint`, `take_hash_hint`)."""
        path = self.segment_path(seq)
        self.stored_file(path)  # a link is refused; an absent file raises below
        identity = _identity(path)
        known = self._known.get(seq)
        if known is not None and known[0] == identity:
            return known[1]
        sha, _, _ = hash_file(path)
        if _identity(path) == identity:  # not changed while being hashed
            self._known[seq] = (identity, sha)
        return sha

    def hash_hint(self) -> list | None:
        """The newest segment hash this process knows with its file's identity, as JSON
        values (for a writer to keep in its state), or None."""
        if not self._known:
            return None
        seq = max(self._known)
        identity, sha = self._known[seq]
        return [seq, list(identity), sha]

    def take_hash_hint(self, hint: object) -> None:
        """Accept a `hash_hint` kept by an earlier process; it is used only while the
        segment's file has exactly that identity. Anything malformed is ignored."""
        if not (isinstance(hint, list) and len(hint) == 3):
            return
        seq, identity, sha = hint
        if type(seq) is int and isinstance(identity, list) and len(identity) == 5 \
                and all(type(v) is int for v in identity) and isinstance(sha, str) \
                and re.fullmatch(r"[0-9a-f]{64}", sha):
            self._known.setdefault(seq, (tuple(identity), sha))

    def list(self, after: int = 0) -> Iterator[SegmentInfo]:
        for seq in self.sequence_numbers():
            if seq > after:
                yield self.info(seq)

    def anomalies(self) -> tuple[builtins.list[str], builtins.list[str]]:
        """(incidents, warnings): files in the segments folder that are not part of the
        log are worth a look, never fatal (a folder has no versions to tell a rewrite)."""
        numbers, warnings = set(self.sequence_numbers()), []
        for entry in sorted(self.segments_dir.iterdir()):
            name = entry.name
            if fmt.SEGMENT_RE.match(name):
                continue
            orphan = fmt.SIGNATURE_RE.match(name)
            if orphan:
                if int(orphan.group(1)) not in numbers:
                    warnings.append(f"{name}: signature of an append that was cut short (harmless)")
                continue
            warnings.append(f"{name}: unexpected file in the segments folder")
        return [], warnings

    def _check_signature(self, seq: int, digest: bytes) -> fmt.Descriptor:
        path = self.stored_file(self.signature_path(seq))
        if path is None:
            raise VaultError(f"segment {seq}: signature file is missing")
        text = path.read_bytes()
        return check_signature(self.config, seq, text, digest)

    # --- appending ------------------------------------------------------------------

    def stager(self, scratch: Path | None = None) -> Stager:
        """Where a segment is written before it is committed: the vault's own staging
        folder (same file system, so the commit is a link), whatever `scratch` a writer
        offers."""
        return Stager(self.staging_dir)

    def append(self, seq: int, source: BinaryIO, signature: str | bytes) -> SegmentInfo:
        stager = self.stager()
        try:
            for chunk in iter(lambda: source.read(CHUNK), b""):
                stager.write(chunk)
        except BaseException:
            stager.abort()
            raise
        return self.commit(seq, stager.finish(), signature)

    def commit(self, seq: int, staged: Staged, signature: str | bytes) -> SegmentInfo:
        """Make a staged segment part of the log, or refuse and discard it."""
        try:
            with self._lock():
                return self._commit_locked(seq, staged, signature)
        finally:
            staged.path.unlink(missing_ok=True)

    def _commit_locked(self, seq: int, staged: Staged, signature: str | bytes) -> SegmentInfo:
        sig_text, descriptor = check_append(self.config, self.head(), seq, staged, signature)
        sig_path = self.signature_path(seq)
        # A signature without its segment is the trace of an append cut short; the
        # segment never existed, so its place is free.
        sig_path.unlink(missing_ok=True)
        _link_new(_write_temp(self.staging_dir, sig_text), sig_path)
        fsync_folder(self.segments_dir)  # the signature is durable before its segment appears
        _link_new(staged.path, self.segment_path(seq))
        fsync_folder(self.segments_dir)
        self._known[seq] = (_identity(self.segment_path(seq)), staged.sha256)
        self._drop_stale_staging()
        return SegmentInfo(seq, staged.sha256, staged.size, descriptor)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        create_private(self.root / ".lock")
        with open(self.root / ".lock", "a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _drop_stale_staging(self, older_than: float = 24 * 3600) -> None:
        """Remove what interrupted appends left in the staging folder (never a segment:
        those live in segments/). Recent files may be uploads still in progress."""
        limit = time.time() - older_than
        for entry in os.scandir(self.staging_dir):
            with contextlib.suppress(FileNotFoundError):
                if entry.stat().st_mtime < limit:
                    os.unlink(entry.path)


def check_append(config: Config, head: tuple[int, str], seq: int, staged: Staged,
                 signature: str | bytes) -> tuple[bytes, fmt.Descriptor]:
    """The checks every append passes, wherever the vault lives: the next number, a
    signature by a configured signer over these bytes, a link to the current head, an
    age header a keyless verifier accepts. Returns the signature's bytes and its
    descriptor."""
    head_seq, head_hash = head
    if seq != head_seq + 1:
        raise AppendRefused(f"segment {seq} refused: the next number is {head_seq + 1}", conflict=True)
    sig_text = signature if isinstance(signature, bytes) else signature.encode()
    try:
        descriptor = check_signature(config, seq, sig_text, staged.blake2b)
    except VaultError as exc:
        raise AppendRefused(str(exc)) from exc
    if descriptor.prev != head_hash:
        raise AppendRefused(f"segment {seq} refused: it does not chain onto segment {head_seq}",
                            conflict=True)
    try:
        check_envelope(config, seq, staged.path)  # what a keyless verifier would refuse
    except BrokenSegment as exc:
        raise AppendRefused(f"segment {seq} refused: it {exc.reason}") from exc
    return sig_text, descriptor


def new_config(recipients: list[str], signer_keys: list[str], checkpoint_interval: int) -> bytes:
    """A new vault's config.json bytes, wherever the vault will live (a folder, a bucket):
    the recipients and signers checked, a fresh vault id."""
    if not recipients:
        raise VaultError("a vault needs at least one station recipient (--recipient)")
    if not signer_keys:
        raise VaultError("a vault needs at least one signer public key (--signer)")
    if checkpoint_interval < 1:
        raise VaultError("checkpoint interval must be at least 1")
    try:
        checked = [str(parse_recipient(r)) for r in recipients]
        signers = [load_public_key(s) for s in signer_keys]
    except KeyFileError as exc:
        raise VaultError(str(exc)) from exc
    config = {
        "format": fmt.FORMAT_NAME,
        "version": fmt.FORMAT_VERSION,
        "vault_id": secrets.token_hex(16),
        "created": fmt.utc_now(),
        "recipients": checked,
        "signers": [{"key_id": s.key_id_hex, "public_key": s.to_base64()} for s in signers],
        "checkpoint_interval": checkpoint_interval,
    }
    return orjson.dumps(config, option=orjson.OPT_INDENT_2) + b"\n"


def segment_numbers(segments_dir: Path) -> list[int]:
    """The numbers of the segment files in a vault's segments folder, in order."""
    found = []
    try:
        entries = list(os.scandir(segments_dir))
    except (FileNotFoundError, NotADirectoryError):
        raise VaultError("the vault has no segments folder (format 4): damaged, or "
                         "not a vault") from None
    for entry in entries:
        match = fmt.SEGMENT_RE.match(entry.name)
        if match:
            found.append(int(match.group(1)))
    return sorted(found)


def _identity(path: Path) -> tuple[int, ...]:
    """What tells one file from another at the same name, or the same file rewritten."""
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _write_temp(directory: Path, data: bytes) -> Path:
    fd, name = tempfile.mkstemp(dir=directory, prefix="sig-", suffix=".part")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return Path(name)


def _link_new(source: Path, target: Path) -> None:
    """Give `source` the name `target` only if that name is free (link(2) never replaces)."""
    try:
        os.link(source, target)
    except FileExistsError as exc:
        raise AppendRefused(f"{target.name} already exists; segments are never overwritten",
                            conflict=True) from exc
    finally:
        source.unlink(missing_ok=True)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = _write_temp(path.parent, data)
    _link_new(tmp, path)
