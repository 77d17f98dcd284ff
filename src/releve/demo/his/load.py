"""Loading the demo HIS: FHIR files (`--load`) or the generated hospital, once per
database; a database already filled the same way is served as it is."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from ...fhir.exact import loads_exact
from .fhir import ID_RE, RESOURCE_TYPES, HisError, HisRequestError
from .store import Store, Write

log = logging.getLogger("releve.demo.his")


def load_files(store: Store, paths: list[Path]) -> int:
    """Load FHIR files (ndjson, .gz, .zst, JSON resources and Bundles, `urn:uuid:`
    references resolved across them) into the store; returns the number of lines."""
    from ...capture.files import InputError, discover, import_tasks

    try:
        return store.load(_file_items(import_tasks(discover(list(paths)))))
    except InputError as exc:
        raise HisError(str(exc)) from None


def _file_items(tasks: Iterator[Any]) -> Iterator[dict[str, Any] | Write]:
    from ...capture.scan import read_task

    lines_seen: dict[str, int] = {}
    for task in tasks:
        first = lines_seen.get(task.label, 0)
        lines = read_task(task).split(b"\n")
        if lines and not lines[-1]:
            lines.pop()
        lines_seen[task.label] = first + len(lines)
        for number, line in enumerate(lines):
            where = task.line_labels[number] if task.line_labels else \
                f"{task.label}: line {first + number + 1}"
            if not line.strip():
                continue
            try:
                item = loads_exact(line)
            except (ValueError, RecursionError) as exc:
                raise HisError(f"{where}: not valid JSON ({exc})") from None
            if isinstance(item, dict) and list(item) == ["delete"] and isinstance(item["delete"], dict):
                yield Write("DELETE", str(item["delete"].get("resourceType")),
                            str(item["delete"].get("id")))
                continue
            if not isinstance(item, dict) or item.get("resourceType") not in RESOURCE_TYPES:
                kind = item.get("resourceType") if isinstance(item, dict) else None
                raise HisError(f"{where}: not a FHIR R4 resource (resourceType {kind!r})")
            if not isinstance(item.get("id"), str) or not ID_RE.fullmatch(item["id"]):
                raise HisError(f"{where}: {item['resourceType']} without a valid id")
            yield item


def populate(store: Store, seed: int, beds: int, patients: int | None, load: list[Path],
             console: Console) -> None:
    """Fill an empty store (the generated hospital, or `load`); a store already filled
    the same way is served as it is. `console` shows the loading's progress on a
    terminal; what was done is logged."""
    if load:
        source: dict[str, Any] = {"load": [str(p.resolve()) for p in load]}
        what = "the files " + ", ".join(map(str, load))
    else:
        source = {"seed": seed, "beds": beds, "patients": patients}
        what = f"the hospital of seed {seed}, {beds} beds" + \
            (f", {patients} patients" if patients else "")
    wanted = orjson.dumps(source).decode()
    existing = store.setting("source")
    if existing == wanted:
        log.info("serving %s as it is (%s resources)", store.path, sum(store.counts().values()))
        return
    if existing is not None:
        raise HisError(f"{store.path} already holds other data ({existing}); give another --db "
                       "or remove it")
    if not store.empty():
        raise HisError(f"{store.path} holds an interrupted load; remove it and start again")
    started = time.monotonic()
    with console.status(f"loading {what}...") as status:
        def counted(items: Iterator[Any]) -> Iterator[Any]:
            for number, item in enumerate(items, start=1):
                if number % 50_000 == 0:
                    status.update(f"loading {what}: {number} resources...")
                yield item
        try:
            if load:
                count = load_files(store, load)
            else:
                from ..hospital.generate import iter_resources, parse_now

                count = store.load(counted(iter_resources(seed=seed, beds=beds, patients=patients,
                                                          now=parse_now(None))))
        except HisRequestError as exc:
            raise HisError(f"cannot load {what}: {exc}") from None
    store.set_setting("source", wanted)
    log.info("%s resources loaded from %s in %.1f s", count, what, time.monotonic() - started)


def census_of(seed: int, beds: int, now: str | None) -> Iterator[dict[str, Any]]:
    """The generated hospital's site and today's census patients with their records: what
    the demo's HL7 v2 feed sends (hl7_feed.py), from a hospital of its own."""
    from ..hospital.generate import census_resources, parse_now

    return census_resources(seed, beds, parse_now(now))
