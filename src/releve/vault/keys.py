"""Key files: age identities for stations, minisign keys for signers.

A station identity is the file `age-keygen` writes (comment lines, then one
AGE-SECRET-KEY-1... line), so Debian's `age -d -i FILE` reads ours and we read theirs.
Every key file (and a vault server's token file) is created with mode 0600 and never
overwritten; a public key or recipient file is 0644, writable by its owner alone, since
whoever could change it would choose who reads the vault or whom it trusts.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from pyrage import x25519

from .. import clock
from ..files import write_atomic
from .errors import VaultError
from .minisign import MinisignError, PublicKey, SecretKey, write_private

PUBLIC = 0o644
Signer = SecretKey  # a signer's secret key, as load_signer gives it; segment.sign uses it


class KeyFileError(VaultError):
    """A key file that cannot be used, with a message fit for the operator."""


def create_station_identity(directory: Path, name: str) -> tuple[Path, str]:
    """Write NAME.key (age identity, 0600); return its path and public recipient."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    identity = x25519.Identity.generate()
    recipient = str(identity.to_public())
    path = directory / f"{_safe(name)}.key"
    created = clock.now().replace(microsecond=0).isoformat()
    _create(path, f"# created: {created}\n# public key: {recipient}\n{identity}\n")
    write_atomic(directory / f"{_safe(name)}.recipient", f"{recipient}\n".encode(), PUBLIC)
    return path, recipient


def load_identities(path: Path) -> list[x25519.Identity]:
    """Read an age identity file (ours or age-keygen's); every AGE-SECRET-KEY line counts."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise KeyFileError(f"cannot read identity file {path}: {exc.strerror}") from exc
    identities = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            identities.append(x25519.Identity.from_str(line))
        except Exception as exc:  # pyrage raises its own IdentityError
            raise KeyFileError(f"{path}: not an age X25519 identity") from exc
    if not identities:
        raise KeyFileError(f"{path}: no age identity found")
    return identities


def parse_recipient(text: str) -> x25519.Recipient:
    try:
        return x25519.Recipient.from_str(text.strip())
    except Exception as exc:
        raise KeyFileError(f"not an age X25519 recipient: {text.strip()[:80]!r}") from exc


def create_signer(directory: Path, name: str) -> tuple[Path, Path, PublicKey]:
    """Write NAME.minisign.key (0600) and NAME.pub, both in minisign's formats."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = SecretKey.generate()
    key_path = directory / f"{_safe(name)}.minisign.key"
    pub_path = directory / f"{_safe(name)}.pub"
    if pub_path.exists():
        raise KeyFileError(f"{pub_path} already exists; keys are never overwritten")
    _create(key_path, secret.to_file_text())
    write_atomic(pub_path, secret.public.to_file_text().encode(), PUBLIC)
    return key_path, pub_path, secret.public


def create_token_file(path: Path) -> None:
    """Write a new random token for `releve vault serve` (43 characters, well above its
    minimum) to `path`, 0600, never over an existing file."""
    _create(path, secrets.token_urlsafe(32) + "\n")


def load_signer(path: Path) -> SecretKey:
    try:
        return SecretKey.from_file_text(path.read_text())
    except OSError as exc:
        raise KeyFileError(f"cannot read signing key {path}: {exc.strerror}") from exc
    except MinisignError as exc:
        raise KeyFileError(f"{path}: {exc}") from exc


def load_public_key(path_or_text: str) -> PublicKey:
    """A signer's public key from a minisign .pub file, or its base64 line itself."""
    path = Path(path_or_text)
    looks_like_path = "/" in path_or_text or path_or_text.endswith(".pub")
    if looks_like_path and not path.exists():
        raise KeyFileError(f"{path_or_text}: no such public key file")
    try:
        text = path.read_text() if path.exists() else path_or_text
        return PublicKey.from_file_text(text)
    except MinisignError as exc:
        raise KeyFileError(f"{path_or_text}: {exc}") from exc


def _create(path: Path, text: str) -> None:
    try:
        write_private(path, text)
    except FileExistsError as exc:
        raise KeyFileError(f"{path} already exists; keys are never overwritten") from exc


def _safe(name: str) -> str:
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise KeyFileError(f"key name {name!r}: use letters, digits, '-', '_' and '.'")
    return name
