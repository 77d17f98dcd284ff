"""The journal's keys and signatures, in minisign's Ed25519 format: the journal's one door
to vault/minisign.py.

The vault's segments and the journal's entries are signed the same way, so that
`minisign -V` checks both; the framing lives once, in the vault. Every other module of
the journal (and the station's) goes through the functions below, so that the journal's
use of signatures can be read in one place (tests/test_vault_layers.py holds it).
"""

from __future__ import annotations

from pathlib import Path

from ..vault.minisign import MinisignError, PublicKey, SecretKey, Signature, file_digest_bytes, write_private
from .errors import JournalError

__all__ = ["PublicKey", "SecretKey", "create", "public_from_base64", "public_from_file", "read",
           "sign", "verify"]


def create(path: Path) -> SecretKey:
    """A new key written to `path` (0600, never over an existing file: FileExistsError)."""
    key = SecretKey.generate()
    write_private(path, key.to_file_text())
    return key


def read(path: Path) -> SecretKey:
    """The key at `path` (FileNotFoundError when there is none)."""
    try:
        return SecretKey.from_file_text(path.read_text())
    except (MinisignError, UnicodeDecodeError) as exc:
        raise JournalError(f"{path}: {exc}") from exc


def public_from_file(text: str) -> PublicKey:
    try:
        return PublicKey.from_file_text(text)
    except MinisignError as exc:
        raise JournalError(str(exc)) from exc


def public_from_base64(text: str) -> PublicKey:
    try:
        return PublicKey.from_base64(text)
    except MinisignError as exc:
        raise JournalError(str(exc)) from exc


def sign(key: SecretKey, body: bytes, comment: str) -> str:
    """minisign's prehashed signature of `body`, as the text of a .minisig file."""
    return key.sign(file_digest_bytes(body), comment)


def verify(public: PublicKey, body: bytes, text: str) -> str:
    """Check the signature `text` of `body` by `public`; its trusted comment."""
    try:
        signature = Signature.parse(text)
        signature.verify(public, digest=file_digest_bytes(body))
    except MinisignError as exc:
        raise JournalError(str(exc)) from exc
    return signature.trusted_comment
