"""The vault format, version 1: names, the signed segment descriptor, the plaintext header,
the vault config and a segment as listed.

docs/format.md is the normative text; this module is its executable reading.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
import pyrage

from .. import clock
from .errors import VaultError
from .minisign import MinisignError, PublicKey

FORMAT_NAME = "releve-vault"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
SEGMENTS_DIR = "segments"
STAGING_DIR = "tmp"
SEGMENT_SUFFIX = ".age"
SIGNATURE_SUFFIX = ".age.minisig"
SEQ_DIGITS = 10
SEGMENT_RE = re.compile(r"^([0-9]{10})\.age$")
SIGNATURE_RE = re.compile(r"^([0-9]{10})\.age\.minisig$")
KINDS = ("delta", "full")
TEXT_MAX = 200  # source and suspect reason are cut to this many characters when signed
COMMENT_MAX = 1000  # bytes; the descriptor must fit in one minisign trusted comment
HEADER_LINE_MAX = 1 << 20  # bytes of a plaintext's header line, its LF included
DESCRIPTOR_FIELDS = ("vault", "seq", "prev", "kind", "time", "source", "puts", "deletes",
                     "suspect")
INT_MAX = (1 << 53) - 1  # integers beyond are not exchanged exactly by every JSON reader
TIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
TYPE = r"[A-Z][A-Za-z]{1,63}"  # a FHIR resource type, as a record and `types` name it
ID = r"[A-Za-z0-9\-.]{1,64}"  # a FHIR id
TYPE_RE, ID_RE = re.compile(TYPE), re.compile(ID)
DELETE_PREFIX = b'{"delete":'  # how a delete line begins, and no put line may (7.4)


class FormatError(VaultError):
    """Bytes that do not follow the vault format."""


class NotJSON(FormatError):
    """A document of the format that is not JSON at all."""


def segment_name(seq: int) -> str:
    return f"{seq:0{SEQ_DIGITS}d}{SEGMENT_SUFFIX}"


def signature_name(seq: int) -> str:
    return f"{seq:0{SEQ_DIGITS}d}{SIGNATURE_SUFFIX}"


def utc_now() -> str:
    """A descriptor's or a config's time: UTC to the microsecond, with a Z."""
    return clock.utc_text("microseconds")


@dataclass(frozen=True)
class Descriptor:
    """What a segment says of itself, readable without any decryption key.

    It is the minisign trusted comment of the segment's signature (so it is signed),
    and it is repeated, with per-type counts, as the plaintext header.
    """

    vault: str
    seq: int
    prev: str
    kind: str
    time: str
    source: str
    puts: int
    deletes: int
    suspect: str | None = None

    def to_comment(self) -> str:
        """The descriptor as signed: ASCII-only JSON (non-ASCII escaped, so no line
        separator of any kind can appear), texts shortened until it fits."""
        limit = TEXT_MAX
        while True:
            data = asdict(self)
            data["source"] = self.source[:limit]
            data["suspect"] = None if self.suspect is None else self.suspect[:limit]
            text = json.dumps({"releve": FORMAT_VERSION, **data}, ensure_ascii=True,
                              separators=(",", ":"))
            if len(text) <= COMMENT_MAX:
                return text
            if limit == 0:  # only a descriptor breaking the rules of 8.3 gets here
                raise FormatError("descriptor does not fit in 1000 bytes")
            limit //= 2

    def signed_form(self) -> Descriptor:
        """This descriptor as it reads back from its signature (texts shortened)."""
        return Descriptor.from_comment(self.to_comment())

    @classmethod
    def from_comment(cls, comment: str) -> Descriptor:
        data = loads_unique(comment.encode(), "signed descriptor")
        if not isinstance(data, dict) or not _is_int(data.pop("releve", None), FORMAT_VERSION):
            raise FormatError("signed descriptor is not a Relève v1 descriptor")
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Descriptor:
        """The descriptor's members checked in the order docs/format.md 8.3 gives."""
        missing = next((name for name in DESCRIPTOR_FIELDS if name not in data), None)
        if missing is not None:
            raise FormatError(f"descriptor lacks field {missing!r}")
        descriptor = cls(
            vault=_typed(data, "vault", str), seq=_typed(data, "seq", int),
            prev=_typed(data, "prev", str), kind=_typed(data, "kind", str),
            time=_typed(data, "time", str), source=_typed(data, "source", str),
            puts=_typed(data, "puts", int), deletes=_typed(data, "deletes", int),
            suspect=data["suspect"],
        )
        if descriptor.kind not in KINDS:
            raise FormatError(f"unknown segment kind {descriptor.kind!r}")
        if descriptor.suspect is not None and not isinstance(descriptor.suspect, str):
            raise FormatError("suspect must be null or a reason")
        if descriptor.seq < 1 or not re.fullmatch(r"[0-9a-f]{64}", descriptor.prev):
            raise FormatError("bad sequence number or previous hash")
        if descriptor.puts < 0 or descriptor.deletes < 0:
            raise FormatError("negative record counts")
        if not TIME_RE.fullmatch(descriptor.time) or not _valid_time(descriptor.time):
            raise FormatError("descriptor time is not YYYY-MM-DDTHH:MM:SS.ffffffZ")
        return descriptor


@dataclass
class Header:
    """First line of a segment's plaintext: the descriptor plus counts by resource type."""

    descriptor: Descriptor
    types: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_line(self) -> bytes:
        body = asdict(self.descriptor)
        body["types"] = self.types
        line = orjson.dumps({"segment": {"format": FORMAT_VERSION, **body}}) + b"\n"
        if len(line) > HEADER_LINE_MAX:  # a reader refuses it: a source text far too long
            raise FormatError("the segment header would be longer than 1 MiB")
        return line

    @classmethod
    def from_line(cls, line: bytes) -> Header:
        try:
            data = loads_unique(line, "plaintext header")
        except NotJSON as exc:
            raise FormatError("plaintext does not start with a segment header") from exc
        data = data.get("segment") if isinstance(data, dict) else None
        if not isinstance(data, dict):
            raise FormatError("plaintext does not start with a segment header")
        if not _is_int(data.pop("format", None), FORMAT_VERSION):
            raise FormatError("plaintext header is not format 1")
        if "types" not in data:
            raise FormatError("plaintext header lacks types")
        types = data.pop("types")
        descriptor = Descriptor.from_dict(data)
        _check_types(types, descriptor)
        return cls(descriptor, types)


@dataclass(frozen=True)
class Config:
    vault_id: str
    recipients: tuple[str, ...]
    signers: tuple[PublicKey, ...]
    checkpoint_interval: int
    raw: bytes

    @property
    def genesis(self) -> str:
        """The 'previous hash' of segment 1: SHA-256 of the config file's bytes."""
        return hashlib.sha256(self.raw).hexdigest()

    @classmethod
    def parse(cls, raw: bytes) -> Config:
        try:
            data = loads_unique(raw, "vault config")
        except NotJSON as exc:
            raise VaultError(f"vault config is not JSON: {exc.__cause__}") from exc
        except FormatError as exc:
            raise VaultError(str(exc)) from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME \
                or type(data.get("version")) is not int or data["version"] != FORMAT_VERSION:
            raise VaultError(f"not a Relève vault of format version {FORMAT_VERSION}")
        vault_id, recipients = data.get("vault_id"), data.get("recipients")
        signers, interval = data.get("signers"), data.get("checkpoint_interval")
        if not isinstance(vault_id, str) or not re.fullmatch(r"[0-9a-f]{32}", vault_id):
            raise VaultError("vault config: vault_id must be 32 hexadecimal digits")
        if not isinstance(recipients, list) or not recipients \
                or not all(isinstance(r, str) for r in recipients):
            raise VaultError("vault config: recipients must be a non-empty list of age recipients")
        _check_recipients(recipients)
        if type(interval) is not int or not 1 <= interval <= INT_MAX:
            raise VaultError("vault config: checkpoint_interval must be a positive integer")
        if not isinstance(signers, list) or not signers:
            raise VaultError("vault config: signers must be a non-empty list")
        keys: list[PublicKey] = []
        for signer in signers:
            try:
                key = PublicKey.from_base64(signer["public_key"])
            except (MinisignError, KeyError, TypeError, AttributeError) as exc:
                raise VaultError(f"vault config: bad signer entry {signer!r}"[:200]) from exc
            if signer.get("key_id") != key.key_id_hex or any(k.key_id == key.key_id for k in keys):
                raise VaultError(f"vault config: signer key id {signer.get('key_id')!r} is wrong "
                                 "or repeated")
            keys.append(key)
        return cls(vault_id=vault_id, recipients=tuple(recipients), signers=tuple(keys),
                   checkpoint_interval=interval, raw=raw)

    def signer(self, key_id: bytes) -> PublicKey | None:
        return next((s for s in self.signers if s.key_id == key_id), None)


@dataclass(frozen=True)
class SegmentInfo:
    seq: int
    sha256: str
    size: int
    descriptor: Descriptor

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "sha256": self.sha256, "size": self.size,
                "descriptor": self.descriptor.to_comment()}


def delete_line(resource_type: str, resource_id: str) -> bytes:
    return orjson.dumps({"delete": {"resourceType": resource_type, "id": resource_id}}) + b"\n"


def _typed(data: dict[str, Any], key: str, kind: type) -> Any:
    value = data[key]
    if type(value) is not kind:  # exactly: JSON true or 1.0 is not an integer here
        raise FormatError(f"descriptor field {key!r} must be {kind.__name__}")
    if isinstance(value, int) and abs(value) > INT_MAX:
        raise FormatError(f"descriptor field {key!r} is beyond 2^53 - 1")
    return value


def loads_unique(raw: bytes, what: str) -> Any:
    """JSON of the vault's own small documents (config, descriptor, header): a member
    named twice in one object is refused, since JSON readers differ on which one counts
    and these members decide what a reader trusts. orjson judges the syntax (strict
    UTF-8, no NaN); json's pair hook sees the names as written."""
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise NotJSON(f"{what} is not JSON") from exc
    return json.loads(raw, object_pairs_hook=lambda pairs: _unique(pairs, what))


def _unique(pairs: list[tuple[str, Any]], what: str) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        names = [name for name, _ in pairs]
        twice = next(name for name in names if names.count(name) > 1)
        raise FormatError(f"{what} has a member twice ({twice[:40]!r})")
    return found


def _valid_time(text: str) -> bool:
    try:
        datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return False
    return True


def _check_types(types: Any, descriptor: Descriptor) -> None:
    """The header's counts by type (format 7.3): an object of types with records, sorted,
    each exactly {"put": P, "delete": D}, adding up to the header's counts."""
    if not isinstance(types, dict):
        raise FormatError("plaintext header types must be an object")
    for name, counts in types.items():
        if not TYPE_RE.fullmatch(name):
            raise FormatError(f"plaintext header types: {name[:70]!r} is not a resource type")
        if not (isinstance(counts, dict) and list(counts) == ["put", "delete"]
                and all(type(n) is int and 0 <= n <= INT_MAX for n in counts.values())
                and counts["put"] + counts["delete"] > 0):
            raise FormatError(f"plaintext header types: {name!r} must be "
                              '{"put": P, "delete": D}, not both 0')
    if list(types) != sorted(types):
        raise FormatError("plaintext header types are not sorted by name")
    if sum(c["put"] for c in types.values()) != descriptor.puts \
            or sum(c["delete"] for c in types.values()) != descriptor.deletes:
        raise FormatError("plaintext header types do not add up to its puts and deletes")


def _check_recipients(recipients: list[str]) -> None:
    """Each an age X25519 recipient as age writes it (lower-case Bech32), each once: a
    keyless verifier counts one X25519 stanza per recipient in every segment."""
    for recipient in recipients:
        try:
            canonical = str(pyrage.x25519.Recipient.from_str(recipient))
        except pyrage.RecipientError:
            canonical = None
        if canonical != recipient:
            raise VaultError(f"vault config: recipient {recipient[:80]!r} is not an age "
                             "X25519 recipient in lower-case Bech32")
    if len(set(recipients)) != len(recipients):
        raise VaultError("vault config: a recipient is listed twice")


def _is_int(value: Any, expected: int) -> bool:
    return type(value) is int and value == expected
