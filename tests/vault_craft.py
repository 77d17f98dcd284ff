"""Crafting vaults by hand for the corpus (tests/vault_corpus.py): a segment made step by
step, every step overridable, test keys made at run time, and the verdicts `releve vault
verify` must give. The cases themselves are in vault_corpus.py (the plaintext's rules)
and vault_corpus_keyless.py (what a verifier checks without a key).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyrage
import zstandard
from pyrage import x25519

from releve.vault import format as fmt
from releve.vault.keys import create_signer, create_station_identity, load_signer
from releve.vault.store import LocalVault

TIME = "2026-01-14T09:00:00.000000Z"
SOURCE = "vault corpus"
Types = dict[str, dict[str, int]]

P1 = b'{"resourceType":"Patient","id":"p1","name":[{"family":"Martin"}]}'
P2 = b'{"resourceType":"Patient","id":"p2","name":[{"family":"Dupont"}]}'
O1 = b'{"resourceType":"Observation","id":"o1","status":"final","subject":{"reference":"Patient/p1"}}'
DEL_P2 = b'{"delete":{"resourceType":"Patient","id":"p2"}}'
BASE_TYPES: Types = {"Observation": {"put": 1, "delete": 0}, "Patient": {"put": 0, "delete": 1}}



# --- one segment, step by step ---------------------------------------------------------------------


@dataclass
class Seg:
    """A segment to append. Each hook receives what the step would make by default and
    returns what to use instead, so a case changes one step and nothing else."""

    records: list[bytes]  # record lines, without their LF
    kind: str = "delta"
    time: str = TIME
    source: str = SOURCE
    types: Types | None = None  # the header's types; None: counted from the records
    counts: tuple[int, int] | None = None  # (puts, deletes) of header and descriptor; None: sums of types
    header: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # the header's "segment" object
    header_line: Callable[[bytes], bytes] | None = None  # the header line, its LF included
    body: Callable[[bytes], bytes] | None = None  # the record lines, each with its LF
    frames: Callable[[bytes, bytes], bytes] | None = None  # (header line, body) -> compressed plaintext
    cipher: Callable[[bytes, list[x25519.Recipient]], bytes] | None = None  # -> the segment file
    comment: Callable[[str], str] | None = None  # the trusted comment (the signed descriptor)
    signature: Callable[[str], str] | None = None  # the signature file's text


def count(records: list[bytes]) -> Types:
    """The header's types for these lines, read leniently: a line that is neither a put nor
    a delete of a valid type counts for nothing (a case that breaks a line keeps the header
    consistent with the others, so that the line is the only fault)."""
    found: dict[str, list[int]] = {}
    for line in records:
        try:
            data = json.loads(line.decode("utf-8", "replace"))
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        deleted = "resourceType" not in data
        target = data.get("delete") if deleted else data
        rtype = target.get("resourceType") if isinstance(target, dict) else None
        if isinstance(rtype, str) and fmt.TYPE_RE.fullmatch(rtype):
            found.setdefault(rtype, [0, 0])[deleted] += 1
    return {name: {"put": p, "delete": d} for name, (p, d) in sorted(found.items())}


def frame(data: bytes, level: int = 1, **options: Any) -> bytes:
    """One zstd frame."""
    return zstandard.ZstdCompressor(level=level, **options).compress(data)


def reference_frames(header: bytes, body: bytes) -> bytes:
    """As the reference writer does (7.1): the header alone at level 3, then the records."""
    return frame(header, 3) + (frame(body) if body else b"")


def encrypt(data: bytes, recipients: list[x25519.Recipient]) -> bytes:
    """Binary age to these recipients (rage, which adds a grease stanza)."""
    out = io.BytesIO()
    pyrage.encrypt_io(io.BytesIO(data), out, recipients)
    return out.getvalue()


def make_segment(seg: Seg, vault: Crafted, seq: int) -> tuple[bytes, str]:
    """The segment file's bytes and its signature file's text."""
    types = count(seg.records) if seg.types is None else seg.types
    puts, deletes = seg.counts or (sum(c.get("put", 0) for c in types.values()),
                                   sum(c.get("delete", 0) for c in types.values()))
    descriptor = fmt.Descriptor(vault=vault.vault_id, seq=seq, prev=vault.head, kind=seg.kind,
                                time=seg.time, source=seg.source, puts=puts, deletes=deletes)
    if seg.header is None:
        line = fmt.Header(descriptor, types).to_line()
    else:  # by hand: Header.to_line refuses a line over 1 MiB
        member = seg.header({"format": fmt.FORMAT_VERSION, **asdict(descriptor), "types": types})
        line = orjson.dumps({"segment": member}) + b"\n"
    if seg.header_line is not None:
        line = seg.header_line(line)
    body = b"".join(record + b"\n" for record in seg.records)
    if seg.body is not None:
        body = seg.body(body)
    compressed = (seg.frames or reference_frames)(line, body)
    data = (seg.cipher or encrypt)(compressed, vault.recipients)
    comment = descriptor.to_comment()
    if seg.comment is not None:
        comment = seg.comment(comment)
    text = vault.crafter.signer.sign(hashlib.blake2b(data, digest_size=64).digest(), comment)
    if seg.signature is not None:
        text = seg.signature(text)
    return data, text


# --- keys and vaults -------------------------------------------------------------------------------


class Crafter:
    """Test keys made in `folder/keys` (or read back from there), and vaults made with them."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        keys = self.folder / "keys"
        if (keys / "station.key").exists():
            self.identity = keys / "station.key"
            self.recipient = (keys / "station.recipient").read_text().strip()
            self.signing_key, self.public_key = keys / "capture.minisign.key", keys / "capture.pub"
        else:
            self.identity, self.recipient = create_station_identity(keys, "station")
            self.signing_key, self.public_key, _ = create_signer(keys, "capture")
        self.signer = load_signer(self.signing_key)
        self.stranger = x25519.Identity.generate()  # a station the vaults do not list

    def vault(self, path: Path, config: Callable[[bytes], bytes] | None = None) -> Crafted:
        """A new vault at `path`, its config.json bytes edited by `config` if given."""
        return Crafted(self, Path(path), config)


class Crafted:
    """A vault being crafted: segments are appended by writing their files directly."""

    def __init__(self, crafter: Crafter, path: Path, config: Callable[[bytes], bytes] | None):
        self.crafter, self.path = crafter, path
        LocalVault.init(path, [crafter.recipient], [str(crafter.public_key)], checkpoint_interval=50)
        config_path = path / fmt.CONFIG_NAME
        raw = config_path.read_bytes()
        if config is not None:
            raw = config(raw)
            config_path.write_bytes(raw)
        data = json.loads(raw)
        self.vault_id: str = data["vault_id"]
        self.head = hashlib.sha256(raw).hexdigest()  # the genesis, then the last segment's hash
        self.seq = 0
        self.recipients = _recipients(data["recipients"]) or [x25519.Recipient.from_str(crafter.recipient)]

    def append(self, seg: Seg) -> Crafted:
        self.seq += 1
        data, text = make_segment(seg, self, self.seq)
        segments = self.path / fmt.SEGMENTS_DIR
        write_new(segments / fmt.signature_name(self.seq), text.encode())
        write_new(segments / fmt.segment_name(self.seq), data)
        self.head = hashlib.sha256(data).hexdigest()
        return self


def _recipients(listed: list[str]) -> list[x25519.Recipient]:
    """The config's recipients pyrage can read (every one, as listed, for a sound config)."""
    found = []
    for text in listed:
        try:
            found.append(x25519.Recipient.from_str(text))
        except Exception:  # pyrage's RecipientError
            continue
    return found


def write_new(path: Path, data: bytes) -> None:
    """A vault file as the vault writes them: new, mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def sound_vault(c: Crafter, path: Path, second: Seg | None = None, third: bool = True,
                config: Callable[[bytes], bytes] | None = None) -> Crafted:
    """The base vault, with `second` as segment 2 (and the full segment 3 unless not `third`)."""
    vault = c.vault(path, config).append(Seg([P1, P2]))
    vault.append(second or Seg([O1, DEL_P2]))
    if third:
        vault.append(Seg([P1, O1], kind="full"))
    return vault


def second(*records: bytes, **changes: Any) -> Seg:
    """Segment 2 of the base vault (or these records instead), with these changes."""
    return Seg(list(records) or [O1, DEL_P2], **changes)


# --- verdicts --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What `vault verify` must print and exit with. `text` is the whole line, or its start
    if `prefix`; {vault_id}, {bytes}, {head} and {recipient} stand for the vault's own."""

    exit: int
    stream: str  # "stdout" or "stderr"
    text: str
    prefix: bool = False

    def line(self, vault: Path) -> str:
        text = self.text
        for name, value in facts(vault).items():
            text = text.replace("{" + name + "}", value)
        return text

    def to_json(self, vault: Path) -> dict[str, Any]:
        return {"exit": self.exit, "stream": self.stream, "match": "prefix" if self.prefix else "exact",
                "text": self.line(vault)}


def ok(segments: int = 3, full: int = 1, records: int | None = None) -> Verdict:
    checked = "" if records is None else f", {records} records decrypted and checked"
    return Verdict(0, "stdout", f"OK vault {{vault_id}}: {segments} segments ({full} full), "
                                f"{{bytes}} bytes, chain sound{checked}; head {{head}}")


def broken(reason: str, seq: int = 2, prefix: bool = False) -> Verdict:
    return Verdict(1, "stderr", f"BROKEN segment {seq}: {reason}", prefix)


def refused(message: str, prefix: bool = False) -> Verdict:
    """An error about the whole vault: one red line."""
    return Verdict(1, "stderr", f"error: {message}", prefix)


def facts(vault: Path) -> dict[str, str]:
    """What an OK line or a config message names, read from the vault's files."""
    try:
        config = (vault / fmt.CONFIG_NAME).read_bytes()
        data = json.loads(config)
    except (OSError, ValueError):
        return {}
    segments = vault / fmt.SEGMENTS_DIR
    files = sorted(p for p in segments.glob("*.age") if p.is_file() and not p.is_symlink()) \
        if segments.is_dir() else []
    head = hashlib.sha256(files[-1].read_bytes() if files else config).hexdigest()
    return {"vault_id": str(data.get("vault_id")), "bytes": str(sum(p.stat().st_size for p in files)),
            "head": head[:16], "recipient": str((data.get("recipients") or [""])[0])}


@dataclass(frozen=True)
class Case:
    build: Callable[[Crafter, Path], None]
    keyless: Verdict
    identity: Verdict
    rule: str  # the section of docs/format.md

    @property
    def doc(self) -> str:
        return " ".join((self.build.__doc__ or "").split())


CASES: dict[str, Case] = {}


def case(rule: str, keyless: Verdict | None = None, identity: Verdict | None = None,
         ) -> Callable[[Callable[[Crafter, Path], None]], Callable[[Crafter, Path], None]]:
    """Register a builder under its name. Keyless defaults to OK (3 segments, 1 full); with
    an identity, a vault refused keyless is refused the same way."""

    def register(build: Callable[[Crafter, Path], None]) -> Callable[[Crafter, Path], None]:
        k = keyless or ok()
        i = identity or (k if k.exit else ok(records=6))
        CASES[build.__name__] = Case(build, k, i, rule)
        return build

    return register


# --- the whole corpus ------------------------------------------------------------------------------


@dataclass
class Corpus:
    folder: Path
    crafter: Crafter
    vaults: dict[str, Path] = field(default_factory=dict)


def build_all(folder: Path, names: list[str] | None = None) -> Corpus:
    """Every case's vault (or those named) in `folder`, with one set of keys in folder/keys."""
    crafter = Crafter(folder)
    corpus = Corpus(Path(folder), crafter)
    for name in names or list(CASES):
        CASES[name].build(crafter, folder / name)
        corpus.vaults[name] = folder / name
    return corpus


def write_verdicts(corpus: Corpus) -> Path:
    """verdicts.json: for each case, the rule it breaks and both verdicts, rendered for the
    vault as written (its id, size and head)."""
    crafter = corpus.crafter
    verdicts = {
        "keys": {"identity": str(crafter.identity.relative_to(corpus.folder)),
                 "signing_key": str(crafter.signing_key.relative_to(corpus.folder)),
                 "public_key": str(crafter.public_key.relative_to(corpus.folder)),
                 "recipient": crafter.recipient},
        "commands": {"keyless": "releve vault verify VAULT",
                     "identity": "releve vault verify VAULT --identity keys/station.key"},
        "cases": {name: {"rule": CASES[name].rule, "doc": CASES[name].doc,
                         "keyless": CASES[name].keyless.to_json(vault),
                         "identity": CASES[name].identity.to_json(vault)}
                  for name, vault in corpus.vaults.items()},
    }
    path = corpus.folder / "verdicts.json"
    path.write_text(json.dumps(verdicts, indent=2, ensure_ascii=False) + "\n")
    return path
