"""The HIS's side of `releve verify`: every resource it serves of each type, paged with
large pages, its bytes digested as each page arrives (resources.py) and appended to
`his.sqlite` (scratch.py). Nothing is kept in memory beyond a page."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from ...fhir.client import PAGES_AHEAD, FhirClient, FhirError, ahead, check_total
from . import scratch
from .resources import carried_identifier, raw_digest

PAGE_SIZE = 1000  # _count asked for: the server may send fewer a page


def capability_types(statement: dict[str, Any]) -> list[str]:
    """The types the CapabilityStatement says can be searched: the HIS's extras are
    looked for there, as well as in every type the vault holds."""
    found: set[str] = set()
    for rest in statement.get("rest") or []:
        if not isinstance(rest, dict) or rest.get("mode", "server") != "server":
            continue
        for resource in rest.get("resource") or []:
            if not isinstance(resource, dict) or not isinstance(resource.get("type"), str):
                continue
            codes = {i.get("code") for i in resource.get("interaction") or [] if isinstance(i, dict)}
            if "search-type" in codes:
                found.add(resource["type"])
    return sorted(found)


class _Meta(msgspec.Struct):
    lastUpdated: str | None = None


class _Head(msgspec.Struct):
    resourceType: str = ""
    id: str = ""
    meta: _Meta | None = None


class _Search(msgspec.Struct):
    mode: str = "match"


class _RawEntry(msgspec.Struct):
    resource: msgspec.Raw = msgspec.Raw(b"")
    search: _Search | None = None


class _HeadEntry(msgspec.Struct):
    resource: _Head | None = None


class _RawPage(msgspec.Struct):
    entry: list[_RawEntry] = []


class _HeadPage(msgspec.Struct):
    entry: list[_HeadEntry] = []


_raw_page = msgspec.json.Decoder(_RawPage).decode
_head_page = msgspec.json.Decoder(_HeadPage).decode


def page_type(client: FhirClient, rtype: str, db: sqlite3.Connection,
              progress: Callable[[int], None]) -> int:
    """Every resource of `rtype` the HIS serves into the scratch table `his`; how many.

    A page is decoded twice, whole: once for each resource's bytes, once for its type,
    id and lastUpdated (msgspec skips the rest), rather than once per resource: the
    per-resource decoding was most of this side's time. A resource of another type in
    the searchset (an _include) is not counted here; an entry that is not a match does
    not count toward the Bundle's total."""
    count = delivered = 0
    total: int | None = None
    for number, raw in enumerate(ahead(client.walk(rtype, {"_count": PAGE_SIZE}), PAGES_AHEAD)):
        try:
            entries = _raw_page(raw.body).entry
            heads = _head_page(raw.body).entry
        except msgspec.MsgspecError as exc:
            raise FhirError(f"{raw.where}: not a FHIR Bundle ({str(exc)[:120]})") from None
        if number == 0:
            total = raw.head.total
        rows = []
        for entry, head in zip(entries, heads, strict=True):
            if entry.search is not None and entry.search.mode != "match":
                continue
            delivered += 1
            resource = head.resource
            if resource is None or resource.resourceType != rtype or not resource.id:
                continue
            line = bytes(entry.resource).strip()
            rows.append((f"{rtype}/{resource.id}", rtype, raw_digest(line),
                         resource.meta.lastUpdated if resource.meta else None,
                         carried_identifier(line)))
        scratch.append(db, "his", rows)
        count += len(rows)
        progress(len(rows))
    check_total(rtype, total, delivered)
    return count


def fetch(client: FhirClient, rtype: str, ids: list[str]) -> Iterator[tuple[str, bytes | None]]:
    """(id, the resource's bytes, None when the HIS no longer has it) for a few ids."""
    for rid in ids:
        response = client.get(f"{rtype}/{rid}")
        if response.status_code in (404, 410):
            yield rid, None
            continue
        if response.status_code >= 400:
            raise FhirError(f"{rtype}/…: HTTP {response.status_code}")
        yield rid, response.content


def repage(client: FhirClient, rtype: str) -> Iterator[tuple[str, bytes]]:
    """(id, bytes) of every resource of `rtype`, paged again: cheaper than a read each
    when many of them are wanted."""
    for page in client.pages(rtype, {"_count": PAGE_SIZE}):
        for item in page.items:
            if item.line is not None and item.rtype == rtype:
                yield item.rid, item.line
