"""The vault format, version 1: names, the signed segment descriptor, the plaintext header,
the vault config and a segment as listed.

docs/format.md is the normative text; this module is its executable reading.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

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


class FormatError(VaultError):
    """Bytes that do not follow the vault format."""


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
            limit //= 2

    def signed_form(self) -> Descriptor:
        """This descriptor as it reads back from its signature (texts shortened)."""
        return Descriptor.from_comment(self.to_comment())

    @classmethod
    def from_comment(cls, comment: str) -> Descriptor:
        try:
            data = orjson.loads(comment)
        except orjson.JSONDecodeError as exc:
            raise FormatError("signed descriptor is not JSON") from exc
        if not isinstance(data, dict) or not _is_int(data.pop("releve", None), FORMAT_VERSION):
            raise FormatError("signed descriptor is not a Relève v1 descriptor")
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Descriptor:
        try:
            descriptor = cls(
                vault=_typed(data, "vault", str), seq=_typed(data, "seq", int),
                prev=_typed(data, "prev", str), kind=_typed(data, "kind", str),
                time=_typed(data, "time", str), source=_typed(data, "source", str),
                puts=_typed(data, "puts", int), deletes=_typed(data, "deletes", int),
                suspect=data["suspect"],
            )
        except KeyError as exc:
            raise FormatError(f"descriptor lacks field {exc}") from exc
        if descriptor.kind not in KINDS:
            raise FormatError(f"unknown segment kind {descriptor.kind!r}")
        if descriptor.suspect is not None and not isinstance(descriptor.suspect, str):
            raise FormatError("suspect must be null or a reason")
        if descriptor.seq < 1 or not re.fullmatch(r"[0-9a-f]{64}", descriptor.prev):
            raise FormatError("bad sequence number or previous hash")
        if descriptor.puts < 0 or descriptor.deletes < 0:
            raise FormatError("negative record counts")
        return descriptor


@dataclass
class Header:
    """First line of a segment's plaintext: the descriptor plus counts by resource type."""

    descriptor: Descriptor
    types: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_line(self) -> bytes:
        body = asdict(self.descriptor)
        body["types"] = self.types
        return orjson.dumps({"segment": {"format": FORMAT_VERSION, **body}}) + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> Header:
        try:
            data = orjson.loads(line)["segment"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise FormatError("plaintext does not start with a segment header") from exc
        if not isinstance(data, dict):
            raise FormatError("plaintext does not start with a segment header")
        if not _is_int(data.pop("format", None), FORMAT_VERSION):
            raise FormatError("plaintext header is not format 1")
        types = data.pop("types", {})
        if not isinstance(types, dict):
            raise FormatError("plaintext header types must be an object")
        return cls(Descriptor.from_dict(data), types)


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
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise VaultError(f"vault config is not JSON: {exc}") from exc
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
        if type(interval) is not int or interval < 1:
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
    return value


def _is_int(value: Any, expected: int) -> bool:
    return type(value) is int and value == expected
