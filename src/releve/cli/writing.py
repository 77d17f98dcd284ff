"""The writer the import, capture and checkpoint commands share, and how they report a
segment written."""

from __future__ import annotations

import os
from pathlib import Path

from ..capture.writer import Writer, Written
from ..vault import keys as vault_keys
from ..vault.source import open_target
from ..vault.store import VaultError
from .console import out


def open_writer(vault: str, token: str | None, signing_key: Path, state: Path | None,
                max_resource: int | None = None) -> Writer:
    """A writer on the vault (folder or URL), refused early if the key is not a signer."""
    target = open_target(vault, token)
    signer = vault_keys.load_signer(signing_key)
    if not target.config.signer(signer.key_id):
        raise VaultError("this signing key is not one of the vault's signers")
    state_dir = state or default_state_dir(target.config.vault_id)
    kwargs = {"max_resource": max_resource} if max_resource else {}
    return Writer(target, signer, state_dir, **kwargs)


def default_state_dir(vault_id: str) -> Path:
    """One writer state per vault, under XDG_STATE_HOME: two vaults never share one."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "releve" / "writer" / vault_id


def described(written: Written) -> str:
    return (f"segment {written.seq} ({written.kind}): {written.puts} put, {written.deletes} "
            f"deleted, {written.size} bytes, sha256 {written.sha256[:16]}")


def describe(written: Written) -> None:
    out.print(described(written), highlight=False)
