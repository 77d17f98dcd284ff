"""Every version of a vault's objects in a versioned bucket, and which of them the vault is.

A bucket with Object Lock is versioned: a second put to a key makes a new version and
cannot remove the first, and a delete without a version id only lays a delete marker over
it. So a vault on S3 is read from its versions, never from the plain listing (which a
delete marker empties and an overwrite redirects): the vault is, for each name, the
version the chain and the signatures name, and whatever else is there is either the
trace of an ordinary accident (an append cut short, a put retried) or an incident (an
attempted rewrite or deletion) that `vault verify` reports. No I/O here: s3.py lists.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from . import format as fmt


@dataclass(frozen=True)
class Version:
    """One version of one object, as ListObjectVersions gives it (a delete marker too)."""

    key: str
    version_id: str
    modified: dt.datetime
    size: int = 0
    etag: str = ""
    marker: bool = False  # a delete marker: no bytes, it hides the versions beneath


class Versions:
    """The versions under a vault's prefix, oldest first for each key.

    Listing order is kept rather than sorting by time: S3 lists a key's versions newest
    first, exactly, while LastModified has a resolution of a second or a millisecond
    that a retried put can share with the first."""

    def __init__(self, prefix: str, listed: Iterable[Version]) -> None:
        self.prefix = prefix
        self.by_key: dict[str, list[Version]] = {}
        for version in listed:  # newest first within each key
            self.by_key.setdefault(version.key, []).insert(0, version)

    def objects(self, name: str) -> list[Version]:
        """The versions of `name` (relative to the prefix) that hold bytes, oldest first."""
        return [v for v in self.by_key.get(self.prefix + name, []) if not v.marker]

    def markers(self) -> list[Version]:
        return [v for versions in self.by_key.values() for v in versions if v.marker]

    def numbers(self) -> list[int]:
        """The sequence numbers of the segments that have bytes, in order."""
        found = []
        for key in self.by_key:
            match = fmt.SEGMENT_RE.match(_segment_leaf(key, self.prefix))
            if match and self.objects(key[len(self.prefix):]):
                found.append(int(match.group(1)))
        return sorted(found)


def segment_key(seq: int) -> str:
    return f"{fmt.SEGMENTS_DIR}/{fmt.segment_name(seq)}"


def signature_key(seq: int) -> str:
    return f"{fmt.SEGMENTS_DIR}/{fmt.signature_name(seq)}"


def _segment_leaf(key: str, prefix: str) -> str:
    """The file name of a key under PREFIX/segments/, or '' for any other key."""
    inner = key[len(prefix):] if key.startswith(prefix) else ""
    folder, _, leaf = inner.partition("/")
    return leaf if folder == fmt.SEGMENTS_DIR and "/" not in leaf else ""


def anomalies(versions: Versions, adopted: dict[str, Version]) -> tuple[list[str], list[str]]:
    """(incidents, warnings) of a vault on S3, given the version adopted for each name.

    Incidents are what no writer of Relève does: a delete marker, a version with other
    bytes than the adopted one under a segment or config name, a signature put after its
    segment. Warnings are harmless traces: an identical second copy (a put retried after
    a lost answer) and signatures of appends cut short before their segment was put."""
    incidents, warnings = [], []
    for marker in versions.markers():
        incidents.append(f"{_name(marker, versions)}: delete marker laid {_when(marker)} "
                         "(an attempted deletion; the locked versions beneath are kept)")
    for key, listed in sorted(versions.by_key.items()):
        name = key[len(versions.prefix):]
        chosen = adopted.get(name)
        for version in (v for v in listed if not v.marker):
            if chosen is not None and version.version_id == chosen.version_id:
                continue
            incident, warning = _judge(name, version, chosen, versions)
            if incident:
                incidents.append(incident)
            if warning:
                warnings.append(warning)
    return incidents, warnings


def _judge(name: str, version: Version, chosen: Version | None,
           versions: Versions) -> tuple[str | None, str | None]:
    """What an object version that is not part of the vault tells."""
    leaf = name.rpartition("/")[2]
    is_signature = fmt.SIGNATURE_RE.match(leaf) is not None
    if chosen is not None and version.etag == chosen.etag and version.size == chosen.size:
        return None, f"{name}: a second identical copy put {_when(version)} (a put retried)"
    if is_signature:
        seq = int(leaf[:fmt.SEQ_DIGITS])
        segment = versions.objects(segment_key(seq))
        if not segment or version.modified <= segment[0].modified:
            return None, f"{name}: signature of an append cut short, put {_when(version)} (harmless)"
        return (f"{name}: another signature put {_when(version)}, after its segment "
                "(an attempted rewrite)"), None
    if chosen is None and not fmt.SEGMENT_RE.match(leaf) and name != fmt.CONFIG_NAME:
        return None, f"{name}: unexpected object under the vault's prefix"
    return f"{name}: another version put {_when(version)} (an attempted rewrite)", None


def _name(version: Version, versions: Versions) -> str:
    return version.key[len(versions.prefix):]


def _when(version: Version) -> str:
    return version.modified.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
