"""The locks of a vault on S3: what `vault verify` says of them, and `vault retain`.

Every object Relève puts is locked in COMPLIANCE mode (s3.py); a version the vault reads
that is not (put by another tool, or with GOVERNANCE, which a holder of the bypass right
can lift) is an incident, and locks that have run out are worth a warning: the chain from
the latest checkpoint should stay locked, which `retain` sees to.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING

from .errors import VaultError
from .s3_client import LOCK_MODE, answers, error_code
from .s3_versions import Version, segment_key, signature_key

if TYPE_CHECKING:
    from .s3 import S3Vault


def lock_findings(vault: S3Vault, adopted: dict[str, Version]) -> tuple[list[str], list[str]]:
    """(incidents, warnings) of the locks of the versions the vault reads."""
    now = dt.datetime.now(dt.UTC)  # the store's locks run on the real clock
    incidents, expired = [], []
    for name, version in sorted(adopted.items()):
        mode, until = _lock(vault, name, version)
        if mode != LOCK_MODE:
            incidents.append(f"{name}: not locked in COMPLIANCE mode ({mode or 'no lock'}): "
                             "it can be deleted")
        elif until is None or until <= now:
            expired.append(name)
    warnings = [f"{len(expired)} object(s) no longer locked, their retention ended "
                f"({expired[0]} ... {expired[-1]}): expected for what is older than the latest "
                "checkpoint; `releve vault retain` keeps the chain from it locked"] if expired else []
    return incidents, warnings


def _lock(vault: S3Vault, name: str, version: Version) -> tuple[str | None, dt.datetime | None]:
    from botocore.exceptions import ClientError

    try:
        held = vault.client.get_object_retention(Bucket=vault.bucket, Key=version.key,
                                                 VersionId=version.version_id)["Retention"]
    except ClientError as exc:
        if error_code(exc) in ("NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError"):
            return None, None
        with answers(vault.url, f"reading the lock of {name}"):
            raise
    return held.get("Mode"), held.get("RetainUntilDate")


def retain(vault: S3Vault, days: int) -> tuple[int, int, dt.datetime]:
    """Extend the lock of what a new station needs, the config and the chain from the
    latest checkpoint (a full segment that is not suspect) on, to `days` from now:
    what is older may expire, never what readers start from. Returns (objects
    extended, first segment kept, the new retain-until). S3 only lets a COMPLIANCE
    retention grow, so a shorter `days` changes nothing."""
    if days < 1:
        raise VaultError("--days must be at least 1")
    until = dt.datetime.fromtimestamp(time.time() + days * 86400, dt.UTC)
    listed = vault.listing(0)
    first = next((item.seq for item in reversed(listed)
                  if item.kind == "full" and not item.suspect), 1)
    versions = vault.versions()
    names = ["config.json"] + [key(item.seq) for item in listed if item.seq >= first
                               for key in (segment_key, signature_key)]
    extended = 0
    for name in names:
        for version in versions.objects(name):
            _, held = _lock(vault, name, version)
            if held is not None and held >= until:
                continue
            with answers(vault.url, f"retention of {name}"):
                vault.client.put_object_retention(
                    Bucket=vault.bucket, Key=version.key, VersionId=version.version_id,
                    Retention={"Mode": LOCK_MODE, "RetainUntilDate": until})
            extended += 1
    return extended, first, until
