#!/usr/bin/env python3
"""Benchmark: recording on a downtime station (issue 17, "Benchmark").

The questions:
  - an entry written with fsync and acknowledged to the browser, 20 writers at once:
    p95 <= 50 ms. Each writer is a nurse signed in (her own session and CSRF token) who
    posts the vitals form of a patient (one pulse: the page's checks, the role, the
    fsynced append, the audit, then the 303 back to the page), then takes 0.5 to 1.5 s
    before the next (20 writes a second together, far more than a ward types); the same
    through the local FHIR API with a token. Then the same writers without any pause:
    what the station takes at most, and the latency when it is saturated. Side by side,
    in the same run, the floor: a bare Starlette app on the same uvicorn stack whose POST
    appends the body to a file under a lock and fsyncs it, what a durable write over
    HTTP costs at all on this disk;
  - the patient page with 500 local entries each: p95 within 1.2x the same patients'
    page without them.
(The merge of 10 stations is bench/journal_merge.py's.)

Data: the station benchmark's cached 1000-bed hospital and vault (bench/station.py
`--prepare` makes it); a fresh station is synced from it for each run.

Usage: .venv/bin/python bench/journal.py [--workdir DIR] [--beds N] [--patients N]
       [--writers N] [--writes N] [--pages N] [--entries N]
Results: the "Writes and the patient page" section of bench/results/journal.md (the
merge's section kept) and bench/results/journal-writes.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from capture import code_stamp, free_port, log, machine
from measure import write_section
from station import (
    PASSWORD,
    PYTHON,
    RELEVE,
    RESULTS,
    Server,
    ensure_vault,
    new_station,
    percentiles,
    run,
    time_pages,
)

from releve.journal.book import Journal
from releve.journal.entry import Author, Draft
from releve.station.index.connection import reader
from releve.station.local.accounts import Accounts
from releve.station.local.tokens import Tokens

TITLE = "The downtime journal: writes, pages and merge"
TARGETS = {"write_p95_ms": 50.0, "page_ratio": 1.2}
VITALS = [("8867-4", "/min", 40, 140), ("8310-5", "Cel", 35.5, 40.0), ("2708-6", "%", 88, 100),
          ("9279-1", "/min", 10, 30), ("29463-7", "kg", 40, 120)]

BARE_APP = r"""
import fcntl, os, sys
import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
from starlette.concurrency import run_in_threadpool
path = sys.argv[1]
def append(line: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line.replace(b"\n", b" ") + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
async def post(request):
    await run_in_threadpool(append, await request.body())
    return Response(b"{}", status_code=201, media_type="application/fhir+json")
async def health(request):
    return Response(b"ok")
app = Starlette(routes=[Route("/fhir/Observation", post, methods=["POST"]), Route("/health", health)])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
"""


def observation(patient: str, rng: random.Random, when: dt.datetime) -> dict[str, Any]:
    code, unit, low, high = rng.choice(VITALS)
    value = round(rng.uniform(low, high), 1)
    return {"resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "vital-signs"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": f"Patient/{patient}"},
            "effectiveDateTime": when.isoformat(timespec="seconds"),
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org",
                              "code": unit}}


def sign_in(base: str, name: str) -> httpx.Client:
    client = httpx.Client(base_url=base, headers={"Origin": base}, timeout=60)
    client.post("/login", data={"username": name, "password": PASSWORD})
    if "releve_session" not in client.cookies:
        raise SystemExit(f"login of {name} failed")
    return client


def csrf_of(client: httpx.Client, patient: str) -> str:
    page = client.get(f"/patients/{patient}").text
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    if not found:
        raise SystemExit("no CSRF token on the patient page")
    return found.group(1)


def form_write(client: httpx.Client, csrf: str, patient: str, rng: random.Random) -> int:
    """The vitals form of the patient page, as a browser posts it: one pulse, now."""
    answer = client.post(f"/patients/{patient}/vitals", data={"csrf": csrf, "hr": str(rng.randint(50, 110))})
    return 201 if answer.status_code == 303 else answer.status_code


def api_write(client: httpx.Client, _: str, patient: str, rng: random.Random) -> int:
    return client.post("/fhir/Observation", json=observation(
        patient, rng, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))).status_code


def timed_writes(clients: list[tuple[httpx.Client, str]], patients: list[str], writes: int,
                 seed: int, write: Callable[[httpx.Client, str, str, random.Random], int],
                 paced: bool = False) -> dict[str, Any]:
    """Every client writes `writes` entries at once with the others (`paced`: 0.5 to 1.5 s
    between two, as a person types); per-request ms."""
    samples: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def writer(number: int, client: httpx.Client, csrf: str) -> None:
        rng = random.Random(seed + number)
        mine: list[float] = []
        for _ in range(writes):
            start = time.perf_counter()
            status = write(client, csrf, rng.choice(patients), rng)
            mine.append((time.perf_counter() - start) * 1000)
            if status != 201:
                failures.append(str(status))
            if paced:
                time.sleep(rng.uniform(0.5, 1.5))
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=writer, args=(n, c, t)) for n, (c, t) in enumerate(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} writes failed, first: {failures[0]}")
    return {**percentiles(samples), "writes": len(samples), "wall_s": round(wall, 2),
            "per_s": round(len(samples) / wall, 1)}


def bench_writes(work: Path, station: Path, patients: list[str], writers: int,
                 writes: int) -> dict[str, Any]:
    accounts = Accounts(station)
    tokens = Tokens(station)
    for n in range(writers):
        accounts.add_user(f"ide{n:02d}", "nurse", PASSWORD, display_name=f"Infirmier {n}")
    keys = [tokens.add(f"pompe-{n:02d}", "nurse") for n in range(writers)]
    port = free_port()
    server = Server([RELEVE, "station", "serve", "--station", str(station), "--port", str(port)],
                    port, work / "serve-writes.log")
    try:
        browsers = [sign_in(server.base, f"ide{n:02d}") for n in range(writers)]
        forms = [(client, csrf_of(client, patients[0])) for client in browsers]
        timed_writes(forms, patients, 2, 1, form_write)  # warm: first requests, first entries
        form_writes = timed_writes(forms, patients, writes, 2, form_write, paced=True)
        form_flat_out = timed_writes(forms, patients, writes, 5, form_write)
        devices = [(httpx.Client(base_url=server.base, timeout=60,
                                 headers={"Authorization": f"Bearer {key}"}), "") for key in keys]
        timed_writes(devices, patients, 2, 3, api_write)
        api_writes = timed_writes(devices, patients, writes, 4, api_write, paced=True)
        api_flat_out = timed_writes(devices, patients, writes, 6, api_write)
        for client, _ in [*forms, *devices]:
            client.close()
    finally:
        server.stop()
    port = free_port()
    bare = Server([PYTHON, "-c", BARE_APP, str(work / "bare.ndjson"), str(port)], port,
                  work / "bare-serve.log")
    try:
        clients = [(httpx.Client(base_url=bare.base, timeout=60), "") for _ in range(writers)]
        timed_writes(clients, patients, 2, 3, api_write)
        bare_writes = timed_writes(clients, patients, writes, 4, api_write, paced=True)
        bare_flat_out = timed_writes(clients, patients, writes, 6, api_write)
        for client, _ in clients:
            client.close()
    finally:
        bare.stop()
    return {"form": form_writes, "api": api_writes, "bare": bare_writes, "writers": writers,
            "form_flat_out": form_flat_out, "api_flat_out": api_flat_out,
            "bare_flat_out": bare_flat_out}


def add_entries(station: Path, patients: list[str], count: int) -> int:
    """`count` entries per patient (vital signs over the last 24 h), written as a ward
    would leave them: in the station's journal, appended in small batches."""
    journal = Journal(station)
    author = Author("bench", "Bench", "nurse")
    rng = random.Random(5)
    now = dt.datetime.now(dt.UTC)
    written = 0
    for patient in patients:
        for start in range(0, count, 50):
            drafts = [Draft("observation", f"Patient/{patient}",
                            observation(patient, rng, now - dt.timedelta(minutes=2 * (count - i))))
                      for i in range(start, min(count, start + 50))]
            written += len(journal.append(drafts, author))
    return written


def bench_pages(work: Path, station: Path, patients: list[str], entries: int,
                rounds: int) -> dict[str, Any]:
    Accounts(station).add_user("lecture", "crisis", PASSWORD, display_name="Lecture")
    paths = [f"/patients/{pid}" for pid in patients] * rounds
    port = free_port()
    server = Server([RELEVE, "station", "serve", "--station", str(station), "--port", str(port)],
                    port, work / "serve-pages.log")
    try:
        client = sign_in(server.base, "lecture")
        before = time_pages(client, paths)
        before_again = time_pages(client, paths)
        started = time.perf_counter()
        written = add_entries(station, patients, entries)
        appended_s = time.perf_counter() - started
        time_pages(client, paths[:len(patients)])  # the index catches up once
        after = time_pages(client, paths)
        again = time_pages(client, paths)
        client.close()
    finally:
        server.stop()
    return {"without": before, "without_again": before_again, "with": after, "with_again": again,
            "entries_per_patient": entries, "patients": len(patients), "entries_written": written,
            "append_s": round(appended_s, 2),
            "ratio_p95": round(min(after["p95"], again["p95"]) / min(before["p95"], before_again["p95"]), 3)}


def write_table(rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return ["| | p50 ms | p95 ms | p99 ms | writes/s |", "|---|---|---|---|---|",
            *[f"| {label} | {row['p50']:.1f} | {row['p95']:.1f} | {row['p99']:.1f} | {row['per_s']} |"
              for label, row in rows]]


def render(result: dict[str, Any]) -> str:
    m, w, p = result["machine"], result["writes"], result["pages"]
    form, api, bare = w["form"], w["api"], w["bare"]
    lines = [
        "## Writes and the patient page",
        "",
        "Generated by `bench/journal.py`.",
        "",
        f"Machine: {m['cpu']} ({m['nproc']} cores), {m['memory_gb']} GB, Linux {m['kernel']}; "
        f"Python {m['python']}; {m['date']}. Code: {result['code']['head'][:12]}"
        f"{' (src modified)' if result['code']['src_dirty'] else ''}.",
        f"Data: the {result['dataset']['beds']}-bed demo hospital, a station synced from its vault.",
        "",
        f"### Writes: {w['writers']} writers at once, each entry fsynced before the answer",
        "",
        "Each writer pauses 0.5 to 1.5 s between two writes (20 writes a second together):",
        "",
        *write_table([("station, the vitals form (signed-in nurse, CSRF, checks, signed, chained, "
                       "fsynced, indexed, audited, 303)", form),
                      ("station, POST /fhir/Observation with a token (same write)", api),
                      ("bare: same uvicorn stack, append + fsync only", bare)]),
        "",
        f"p95 ratios: form / bare {form['p95'] / bare['p95']:.2f}x, API / bare "
        f"{api['p95'] / bare['p95']:.2f}x; target p95 <= {TARGETS['write_p95_ms']:.0f} ms "
        f"(the form): {'met' if form['p95'] <= TARGETS['write_p95_ms'] else 'NOT met'}.",
        "",
        "The same writers without any pause (the station saturated: what it takes at most):",
        "",
        *write_table([("station, the vitals form", w["form_flat_out"]),
                      ("station, POST /fhir/Observation", w["api_flat_out"]),
                      ("bare", w["bare_flat_out"])]),
        "",
        f"Writes per second at most: form {w['form_flat_out']['per_s']}, API "
        f"{w['api_flat_out']['per_s']}, bare {w['bare_flat_out']['per_s']} "
        f"({w['form_flat_out']['per_s'] / w['bare_flat_out']['per_s']:.2f}x and "
        f"{w['api_flat_out']['per_s'] / w['bare_flat_out']['per_s']:.2f}x of bare).",
        "",
        f"### Patient page with {p['entries_per_patient']} local entries ({p['patients']} patients)",
        "",
        "| | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|",
        *[f"| {label} | {row['p50']:.1f} | {row['p95']:.1f} | {row['p99']:.1f} |" for label, row in (
            ("without local entries", p["without"]),
            ("the same, second pass", p["without_again"]),
            (f"with {p['entries_per_patient']} entries each", p["with"]),
            ("the same, second pass", p["with_again"]))],
        "",
        f"p95 ratio with / without: {p['ratio_p95']:.2f}x (best of two passes each); target "
        f"<= {TARGETS['page_ratio']}x: {'met' if p['ratio_p95'] <= TARGETS['page_ratio'] else 'NOT met'}. "
        f"{p['entries_written']} entries appended in {p['append_s']} s.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/releve-bench-station"))
    parser.add_argument("--beds", type=int, default=1000)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--writers", type=int, default=20)
    parser.add_argument("--writes", type=int, default=30, help="per writer, in each of the two runs")
    parser.add_argument("--pages", type=int, default=30, help="patients whose page is timed")
    parser.add_argument("--rounds", type=int, default=10, help="times each page is timed")
    parser.add_argument("--entries", type=int, default=500, help="local entries per patient")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    data = ensure_vault(args.workdir, args.beds, args.patients)
    work = args.workdir / "journal-run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log("syncing a fresh station")
    station = new_station(work, data, "station")
    run([RELEVE, "station", "sync", "--station", str(station), "--vault", data["vault"]])
    conn = reader(station)
    assert conn is not None, "the station did not sync"
    inpatients = sorted(r[0] for r in conn.execute("SELECT DISTINCT patient FROM stays WHERE current = 1"))
    conn.close()
    rng = random.Random(11)
    log("writes")
    writes = bench_writes(work, station, inpatients, args.writers, args.writes)
    log("pages")
    chosen = rng.sample(inpatients, args.pages)
    pages = bench_pages(work, station, chosen, args.entries, args.rounds)
    result = {"machine": machine(), "code": code_stamp(),
              "dataset": {"beds": args.beds, "patients": args.patients},
              "writes": writes, "pages": pages, "targets": TARGETS}
    write_section(args.results, "journal", TITLE, "journal-writes", result, render(result))


if __name__ == "__main__":
    sys.exit(main())
