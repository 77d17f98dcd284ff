"""What makes two versions of a resource the same for `releve verify`, and how they differ.

A resource is compared as JSON values, not bytes: member order and white space do not
count, numbers compare as the values they are (orjson's reading). Two members of `meta`
never count: `versionId` and `lastUpdated` are the server's bookkeeping, a restore may
set them anew. Members the HIS adds under `meta` on its own (`source`, a `tag`, a
`security` label, a `profile` it claims) do not count either, but they are listed: they
are what a restored server says of itself, not what it lost. Everything else under
`meta`, a member removed or a value changed, is a change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from ...journal.entry import journal_identifier

IGNORED_META = ("versionId", "lastUpdated")
DIGEST_SIZE = 16


def raw_digest(line: bytes) -> int:
    """The digest of a resource's bytes as sent or stored (without the line's end): equal
    bytes, same resource. The vault keeps the bytes the server sent, so a HIS restored
    from its own backup gives the same bytes and nothing more is needed.

    Python's own hash of the bytes: SipHash-1-3 keyed by a secret drawn at each start,
    64 bits, 0.2 µs a resource of 1 KB against 1.9 µs for BLAKE2b (four million of them
    at 1,000 beds). Keyed, no one can make two contents collide on purpose; by chance,
    a changed resource passes for identical once in 2^64. Both sides must hash with the
    same key: the vault's reader is forked from the pager (vault_side checks it)."""
    return hash(line)


def parsed(line: bytes) -> dict[str, Any]:
    return orjson.loads(line)


def own_meta(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource's `meta` without the members a server sets on every write."""
    meta = resource.get("meta")
    if not isinstance(meta, dict):
        return {}
    return {key: value for key, value in meta.items() if key not in IGNORED_META}


def body_digest(resource: dict[str, Any]) -> bytes:
    """The digest of everything but `meta`, keys sorted."""
    body = {key: value for key, value in resource.items() if key != "meta"}
    return hashlib.blake2b(orjson.dumps(body, option=orjson.OPT_SORT_KEYS),
                           digest_size=DIGEST_SIZE).digest()


@dataclass
class Verdict:
    """One resource held by both sides, compared: `changed` or not, the server's own
    additions (paths under meta) found in the HIS's version."""

    changed: bool
    additions: list[str]


def compare(vault: dict[str, Any], his: dict[str, Any]) -> Verdict:
    """The vault's version against the HIS's: the same unless their bodies differ or the
    HIS's meta lost or changed something of the vault's."""
    additions, meta_changed = meta_additions(own_meta(vault), own_meta(his))
    changed = meta_changed or body_digest(vault) != body_digest(his)
    return Verdict(changed, additions)


def meta_additions(before: dict[str, Any], after: dict[str, Any]) -> tuple[list[str], bool]:
    """(paths the HIS added under meta, whether it changed or removed anything there).
    A member only in `after` is an addition (`meta.source`); a list in both whose
    `before` items are all still in `after` gained the others (`meta.tag`)."""
    added: list[str] = []
    changed = False
    for key, value in after.items():
        if key not in before:
            added.append(f"meta.{key}")
        elif value != before[key]:
            if isinstance(value, list) and isinstance(before[key], list) and \
                    all(item in value for item in before[key]):
                added.append(f"meta.{key}")
            else:
                changed = True
    if any(key not in after for key in before):
        changed = True
    return added, changed


def without_additions(his: dict[str, Any], vault: dict[str, Any]) -> dict[str, Any]:
    """The HIS's version as the vault would hold it: its own meta additions taken out,
    for a diff that shows only what counts."""
    before, after = own_meta(vault), own_meta(his)
    meta = {}
    for key, value in after.items():
        if key not in before:
            continue
        if isinstance(value, list) and isinstance(before[key], list) and \
                all(item in value for item in before[key]):
            value = [item for item in value if item in before[key]]
        meta[key] = value
    result = {key: value for key, value in his.items() if key != "meta"}
    if meta or "meta" in vault:
        result["meta"] = meta
    return result


@dataclass(frozen=True)
class Change:
    """One field that differs: its JSON path (`name[0].family`), before (the vault) and
    after (the HIS); None stands for an absent member."""

    path: str
    before: Any
    after: Any


def field_diff(vault: dict[str, Any], his: dict[str, Any]) -> list[Change]:
    """What differs between the vault's version and the HIS's, field by field, with
    meta.versionId, meta.lastUpdated and the HIS's own additions left out."""
    return list(_diff(_counted(vault), _counted(without_additions(his, vault)), ""))


def _counted(resource: dict[str, Any]) -> dict[str, Any]:
    meta = own_meta(resource)
    result = {key: value for key, value in resource.items() if key != "meta"}
    if meta:
        result["meta"] = meta
    return result


def _diff(before: Any, after: Any, path: str) -> Iterator[Change]:
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(before.keys() | after.keys()):
            inner = f"{path}.{key}" if path else key
            yield from _diff(before.get(key), after.get(key), inner)
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for number, (one, other) in enumerate(zip(before, after, strict=True)):
            yield from _diff(one, other, f"{path}[{number}]")
    elif before != after:
        yield Change(path, before, after)


def carried_identifier(line: bytes, resource: dict[str, Any] | None = None) -> str | None:
    """The journal identifier (urn:uuid:…) a resource carries, if any; the bytes are
    looked at first, so that most resources are never parsed for it."""
    if b"urn:uuid:" not in line:
        return None
    return journal_identifier(resource if resource is not None else parsed(line))
