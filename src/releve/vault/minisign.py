"""Minisign-compatible Ed25519 keys and signatures.

Segments are signed in minisign's format so that a hospital can check them with
Debian's `minisign -V` and nothing of ours. The signing itself is done by
`cryptography`'s Ed25519; this module only reads and writes minisign's framing:

  public key  "Ed" || key_id[8] || public_key[32]                      (base64)
  secret key  "Ed" || kdf[2] || "B2" || salt[32] || ops[8] || mem[8]
              || key_id[8] || seed[32] || public_key[32] || checksum[32]  (base64)
              checksum = BLAKE2b-256("Ed" || key_id || seed || public_key)
              Relève writes unencrypted keys (kdf = 0x0000, as `minisign -W`),
              protected by their file mode (0600) instead of a passphrase.
  signature   "ED" || key_id[8] || Ed25519(BLAKE2b-512(file))[64]         (base64)
              then "trusted comment: <text>", then
              Ed25519(signature[64] || <text>)                            (base64)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from .errors import VaultError

SIG_ALG = b"Ed"
PREHASHED_ALG = b"ED"
KDF_NONE = b"\x00\x00"
KDF_SCRYPT = b"Sc"
CHK_ALG = b"B2"
TRUSTED_COMMENT_MAX = 1000  # minisign's own limit is larger; we stay well below it


class MinisignError(VaultError):
    """A key or signature that is malformed, unknown or does not verify."""


@dataclass(frozen=True)
class PublicKey:
    key_id: bytes
    raw: bytes

    @property
    def key_id_hex(self) -> str:
        """Key id as minisign prints it (little-endian 64-bit, upper-case hex)."""
        return self.key_id[::-1].hex().upper()

    def to_base64(self) -> str:
        return base64.b64encode(SIG_ALG + self.key_id + self.raw).decode()

    def to_file_text(self) -> str:
        return f"untrusted comment: minisign public key {self.key_id_hex}\n{self.to_base64()}\n"

    @classmethod
    def from_base64(cls, text: str) -> PublicKey:
        """The key from its base64 line exactly (a vault config's `public_key`: nothing
        around it is trimmed, format 5)."""
        blob = _b64(text, "public key")
        if len(blob) != 42 or blob[:2] != SIG_ALG:
            raise MinisignError("not a minisign Ed25519 public key")
        return cls(key_id=blob[2:10], raw=blob[10:])

    @classmethod
    def from_file_text(cls, text: str) -> PublicKey:
        return cls.from_base64(_payload_line(text, "public key").strip())


@dataclass(frozen=True)
class SecretKey:
    key_id: bytes
    seed: bytes
    public: PublicKey

    @classmethod
    def generate(cls) -> SecretKey:
        private = Ed25519PrivateKey.generate()
        seed = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        raw_pub = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        key_id = os.urandom(8)
        return cls(key_id=key_id, seed=seed, public=PublicKey(key_id, raw_pub))

    def to_file_text(self) -> str:
        secret = self.seed + self.public.raw
        checksum = hashlib.blake2b(SIG_ALG + self.key_id + secret, digest_size=32).digest()
        blob = (
            SIG_ALG + KDF_NONE + CHK_ALG + bytes(32) + bytes(8) + bytes(8)
            + self.key_id + secret + checksum
        )
        return (
            "untrusted comment: minisign secret key (unencrypted, Relève signer)\n"
            + base64.b64encode(blob).decode() + "\n"
        )

    @classmethod
    def from_file_text(cls, text: str) -> SecretKey:
        blob = _b64(_payload_line(text, "secret key").strip(), "secret key")
        if len(blob) != 158 or blob[:2] != SIG_ALG or blob[4:6] != CHK_ALG:
            raise MinisignError("not a minisign Ed25519 secret key")
        if blob[2:4] == KDF_SCRYPT:
            raise MinisignError(
                "this minisign secret key is password-protected; Relève needs an "
                "unencrypted key (remove the password with `minisign -C -W`)"
            )
        if blob[2:4] != KDF_NONE:
            raise MinisignError("unknown key derivation in minisign secret key")
        key_id, seed, raw_pub, checksum = blob[54:62], blob[62:94], blob[94:126], blob[126:158]
        expected = hashlib.blake2b(SIG_ALG + key_id + seed + raw_pub, digest_size=32).digest()
        # `minisign -G -W` leaves the checksum of an unencrypted key all zero
        if checksum not in (expected, bytes(32)):
            raise MinisignError("minisign secret key checksum does not match (damaged key)")
        return cls(key_id=key_id, seed=seed, public=PublicKey(key_id, raw_pub))

    def sign(self, data_digest: bytes, trusted_comment: str) -> str:
        """Sign a BLAKE2b-512 digest (see `file_digest`) the way `minisign -S` does."""
        if "\n" in trusted_comment or "\r" in trusted_comment:
            raise MinisignError("trusted comment must be one line")
        comment = trusted_comment.encode()
        if len(comment) > TRUSTED_COMMENT_MAX:
            raise MinisignError(f"trusted comment too long ({len(comment)} bytes)")
        private = Ed25519PrivateKey.from_private_bytes(self.seed)
        signature = private.sign(data_digest)
        global_signature = private.sign(signature + comment)
        return (
            "untrusted comment: signature from Relève signer\n"
            + base64.b64encode(PREHASHED_ALG + self.key_id + signature).decode() + "\n"
            + "trusted comment: " + trusted_comment + "\n"
            + base64.b64encode(global_signature).decode() + "\n"
        )


@dataclass(frozen=True)
class Signature:
    algorithm: bytes
    key_id: bytes
    signature: bytes
    trusted_comment: str
    global_signature: bytes

    @classmethod
    def parse(cls, text: str | bytes) -> Signature:
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise MinisignError("signature file is not UTF-8") from exc
        # split on LF only: str.splitlines() would also split inside a trusted comment
        # at U+2028 and friends, which minisign itself treats as ordinary characters
        lines = [line.removesuffix("\r") for line in text.split("\n")]
        if len(lines) < 4 or not lines[0].startswith("untrusted comment:"):
            raise MinisignError("signature file is not in minisign format")
        if not lines[2].startswith("trusted comment: "):
            raise MinisignError("signature file has no trusted comment")
        blob = _b64(lines[1], "signature")
        if len(blob) != 74 or blob[:2] not in (SIG_ALG, PREHASHED_ALG):
            raise MinisignError("unknown signature algorithm")
        global_signature = _b64(lines[3], "global signature")
        if len(global_signature) != 64:
            raise MinisignError("malformed global signature")
        return cls(blob[:2], blob[2:10], blob[10:], lines[2][len("trusted comment: "):], global_signature)

    def verify(self, public: PublicKey, data: bytes | None = None, digest: bytes | None = None) -> None:
        """Raise MinisignError unless this signature over the data is valid for `public`.

        Pass either the data itself or its BLAKE2b-512 digest (prehashed signatures only).
        """
        if self.key_id != public.key_id:
            raise MinisignError("signed by another key")
        if self.algorithm == PREHASHED_ALG:
            message = digest if digest is not None else file_digest_bytes(data or b"")
        elif data is not None:
            message = data
        else:
            raise MinisignError("legacy signature needs the whole data")
        key = Ed25519PublicKey.from_public_bytes(public.raw)
        try:
            key.verify(self.signature, message)
        except InvalidSignature as exc:
            raise MinisignError("signature does not match the data") from exc
        try:
            key.verify(self.global_signature, self.signature + self.trusted_comment.encode())
        except InvalidSignature as exc:
            raise MinisignError("trusted comment has been altered") from exc


def file_digest_bytes(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=64).digest()


def file_digest(path: Path) -> bytes:
    """BLAKE2b-512 of a file, the message of a prehashed ("ED") minisign signature."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, lambda: hashlib.blake2b(digest_size=64)).digest()


def write_private(path: Path, text: str) -> None:
    """Create a file readable by its owner only, failing if it exists (keys are never overwritten)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _payload_line(text: str, what: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise MinisignError(f"empty {what} file")
    return lines[1] if lines[0].startswith("untrusted comment:") and len(lines) > 1 else lines[0]


def _b64(text: str, what: str) -> bytes:
    """Decode strictly and canonically, nothing trimmed: the padding bits of the last
    character must be zero, so a signature file has exactly one spelling and no byte of
    it can change without verification failing (the decoder alone ignores those bits)."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MinisignError(f"{what} is not valid base64") from exc
    if base64.b64encode(raw).decode() != text:
        raise MinisignError(f"{what} is not canonical base64")
    return raw
