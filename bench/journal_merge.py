#!/usr/bin/env python3
"""Benchmark: merging the downtime journals of 10 stations that pull each other.

The question (issue 17, "Benchmark"): 10 stations × 5,000 entries each, every station
pulling every other over loopback HTTP, all settled in at most 30 s on this machine;
report the entries/s verified.

Set-up (not timed): 10 station folders (`station init`, each its own journal key), each
writing 5,000 Observation entries through `Journal.append` (batches of 250, fsynced),
a `peer` token on each for the others, every station a peer of every other, and the 10
web apps served by `releve station serve` in their own processes.
Timed: the 10 `releve journal pull --station DIR` run at once (each pulls its 9 peers in
its own order, taking each journal from whichever peer lists it first: a relayed copy
counts as well), round after round until a round brings nothing new: then every station
holds the 50,000 entries. Then `releve journal verify` on one station (every signature
of every entry, from the files) is timed alone.

"Verified" for a pull means what `Journal.ingest` checks: each entry's envelope, number
and chain link, and the minisign signature of the last entry of each batch, which the
chain makes vouch for those before it; `journal verify` checks every signature.

Usage: .venv/bin/python bench/journal_merge.py [--workdir DIR] [--stations N] [--entries N]
Results: the "Merge" section of bench/results/journal.md (other sections kept) and
bench/results/journal-merge.json.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from capture import code_stamp, free_port, log, machine, process_cpu
from measure import cpu_counters, write_section

from releve.journal import peers
from releve.journal.book import Journal
from releve.journal.entry import Author, Draft
from releve.station.local.tokens import Tokens
from releve.station.sync import init_station
from releve.vault.keys import create_station_identity

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "bench" / "results"
RELEVE = str(REPO_ROOT / ".venv" / "bin" / "releve")
TARGET_S = 30.0
BATCH = 250
NURSE = Author("bench", "Banc d'essai", "nurse")
SECTION = "## Merge"
TITLE = "The downtime journal: writes, pages and merge"


def draft(station: int, n: int) -> Draft:
    """A pulse rate, as a ward records them: a few hundred bytes of FHIR."""
    patient = f"Patient/bench-{station}-{n % 40}"
    return Draft("observation", patient, {
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": patient}, "effectiveDateTime": "2026-01-14T09:00:00+01:00",
        "valueQuantity": {"value": 60 + n % 60, "unit": "/min",
                          "system": "http://unitsofmeasure.org", "code": "/min"}})


def prepare(workdir: Path, count: int, entries: int) -> list[Path]:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    folders = []
    for i in range(count):
        identity, _ = create_station_identity(workdir / "keys", f"s{i}")
        folder = workdir / f"station-{i:02d}"
        init_station(folder, identity, name=f"station-{i:02d}", ward=f"U{i // 2}")
        journal = Journal(folder)
        for start in range(0, entries, BATCH):
            journal.append([draft(i, n) for n in range(start, min(start + BATCH, entries))], NURSE)
        folders.append(folder)
    log(f"{count} stations with {entries} entries each written")
    return folders


def serve(folders: list[Path], workdir: Path) -> tuple[list[subprocess.Popen], list[str]]:
    servers, urls = [], []
    for folder in folders:
        port = free_port()
        log_file = open(workdir / f"{folder.name}.serve.log", "wb")
        servers.append(subprocess.Popen([RELEVE, "station", "serve", "--station", str(folder),
                                         "--port", str(port)], stdout=log_file,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        urls.append(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 60
    for url in urls:
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not answer")
            time.sleep(0.2)
    return servers, urls


def link(folders: list[Path], urls: list[str], seed: int = 1) -> None:
    """Every station a peer of every other, each listing them in its own shuffled order."""
    rng = random.Random(seed)
    for i, folder in enumerate(folders):
        others = [j for j in range(len(folders)) if j != i]
        rng.shuffle(others)
        for j in others:
            token = Tokens(folders[j]).add(f"peer-{i:02d}", "peer")
            peers.add(folder, f"station-{j:02d}", urls[j], token)


def held(folder: Path) -> int:
    conn = Journal(folder).db()
    return conn.execute("SELECT count(*) FROM entries").fetchone()[0]


def pull_round(folders: list[Path], workdir: Path, number: int) -> float:
    """The 10 pulls at once; seconds until the last ends. A failed pull stops the bench."""
    start = time.perf_counter()
    running = [subprocess.Popen([RELEVE, "journal", "pull", "--station", str(folder)],
                                stdout=open(workdir / f"{folder.name}.pull{number}.log", "wb"),
                                stderr=subprocess.STDOUT) for folder in folders]
    codes = [p.wait() for p in running]
    if any(codes):
        bad = [f.name for f, c in zip(folders, codes, strict=True) if c]
        raise SystemExit(f"pull failed on {bad}: see {workdir}/*.pull{number}.log")
    return time.perf_counter() - start


def pulled_in(folders: list[Path], workdir: Path, number: int) -> int:
    total = 0
    for folder in folders:
        text = (workdir / f"{folder.name}.pull{number}.log").read_text()
        total += sum(int(n) for n in re.findall(r": (\d+) entries pulled", text))
    return total


def run(workdir: Path, count: int, entries: int) -> dict[str, Any]:
    folders = prepare(workdir, count, entries)
    servers, urls = serve(folders, workdir)
    try:
        link(folders, urls)
        expected = count * entries
        os.sync()
        busy0, _ = cpu_counters()
        pulls0, serving0 = _children_cpu(), sum(process_cpu(s.pid) for s in servers)
        rounds = []
        for number in range(1, 6):
            seconds = pull_round(folders, workdir, number)
            counts = [held(f) for f in folders]
            rounds.append({"seconds": seconds, "pulled": pulled_in(folders, workdir, number),
                           "min_held": min(counts)})
            log(f"round {number}: {seconds:.2f} s, {rounds[-1]['pulled']} entries pulled, "
                f"least held {min(counts)} of {expected}")
            if min(counts) == expected:
                break
        busy1, _ = cpu_counters()
        pulls1, serving1 = _children_cpu(), sum(process_cpu(s.pid) for s in servers)
        confirm_s = pull_round(folders, workdir, 99)  # untimed: finds nothing new
        confirm_pulled = pulled_in(folders, workdir, 99)
        log(f"confirming round: {confirm_s:.2f} s, {confirm_pulled} entries pulled")
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(10)
    settled = all(held(f) == expected for f in folders)
    wall = sum(r["seconds"] for r in rounds)
    pulled = sum(r["pulled"] for r in rounds)
    start = time.perf_counter()
    verified = subprocess.run([RELEVE, "journal", "verify", "--station", str(folders[0])],
                              capture_output=True, text=True)
    verify_s = time.perf_counter() - start
    return {
        "machine": machine(), "code": code_stamp(), "stations": count, "entries": entries,
        "expected_per_station": expected, "settled": settled, "rounds": rounds,
        "wall_s": wall, "pulled": pulled, "pulled_per_s": pulled / wall if wall else 0,
        "machine_cpu_s": busy1 - busy0, "our_cpu_s": pulls1 - pulls0 + serving1 - serving0,
        "pulls_cpu_s": pulls1 - pulls0, "servers_cpu_s": serving1 - serving0,
        "confirm_s": confirm_s, "confirm_pulled": confirm_pulled,
        "verify_ok": verified.returncode == 0, "verify_s": verify_s,
        "verify_per_s": expected / verify_s,
        "journal_bytes": sum(p.stat().st_size for p in (folders[0] / "journal").glob("*.ndjson")),
    }


def _children_cpu() -> float:
    """CPU seconds of the pulls that ended (children waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def markdown(r: dict[str, Any]) -> str:
    m, code = r["machine"], r["code"]
    met = "met" if r["settled"] and r["wall_s"] <= TARGET_S else "NOT met"
    lines = [
        SECTION, "",
        f"Generated by `bench/journal_merge.py` on {m['date']}.", "",
        f"- Relève: commit {code['head'][:12]} (src sha256 {code['src_sha256'][:12]}"
        f"{', src modified' if code['src_dirty'] else ''}).",
        f"- Machine: {m['cpu']}, {m['nproc']} cores, {m['memory_gb']} GB RAM, Linux {m['kernel']}, "
        f"Python {m['python']}, httpx {m['httpx']}. Shared machine: during the timed rounds "
        f"the whole machine used {r['machine_cpu_s']:.1f} CPU s, the benchmark's servers and "
        f"pulls {r['our_cpu_s']:.1f} (other CPU: {r['machine_cpu_s'] - r['our_cpu_s']:.1f} s, "
        f"of at most {2 * r['wall_s']:.1f}).",
        f"- {r['stations']} stations × {r['entries']:,} entries (Observation, "
        f"{r['journal_bytes'] / r['stations'] / r['entries']:.0f} bytes a line), each station "
        f"pulling every other over loopback HTTP; {r['stations']} `releve station serve` and "
        f"{r['stations']} `releve journal pull` processes at once.", "",
        "| round | seconds | entries pulled (all stations) | least held by a station |",
        "| ---: | ---: | ---: | ---: |",
        *[f"| {i} | {x['seconds']:.2f} | {x['pulled']:,} | {x['min_held']:,} |"
          for i, x in enumerate(r["rounds"], 1)], "",
        f"- **Settled in {r['wall_s']:.1f} s** (target at most {TARGET_S:.0f} s): {met}. Every "
        f"station holds all {r['expected_per_station']:,} entries: "
        f"{'yes' if r['settled'] else 'NO'}. A further round, untimed, pulled "
        f"{r['confirm_pulled']:,} entries in {r['confirm_s']:.1f} s ({r['stations']} Python start-ups and "
        "2 requests per peer).",
        f"- The benchmark's own processes used {r['our_cpu_s']:.1f} CPU s (the pulls "
        f"{r['pulls_cpu_s']:.1f}, the servers {r['servers_cpu_s']:.1f}), "
        f"{r['our_cpu_s'] * 1e6 / max(r['pulled'], 1):.0f} µs per entry pulled: with the 2 cores "
        f"to themselves, at least {r['our_cpu_s'] / 2:.1f} s.",
        f"- **{r['pulled_per_s']:,.0f} entries/s verified** on ingest across the {r['stations']} "
        f"stations ({r['pulled']:,} entries pulled, checked and appended in "
        f"{r['wall_s']:.1f} s): envelope, "
        "number and chain of every entry, and the signature of each batch's last entry, which "
        "the chain makes vouch for the rest.",
        f"- `releve journal verify` of one station afterwards (all {r['expected_per_station']:,} "
        f"entries, every signature, from the files): {r['verify_s']:.1f} s, "
        f"{r['verify_per_s']:,.0f} entries/s, {'sound' if r['verify_ok'] else 'FAILED'}.",
        "- Times are whole commands (Python start-up of each `releve journal pull` included).", "",
    ]
    return "\n".join(lines)


def write(result: dict[str, Any]) -> None:
    """The Merge section of journal.md, replacing an older one, keeping the others."""
    write_section(RESULTS, "journal", TITLE, "journal-merge", result, markdown(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/releve-bench-journal"))
    parser.add_argument("--stations", type=int, default=10)
    parser.add_argument("--entries", type=int, default=5000)
    args = parser.parse_args()
    write(run(args.workdir, args.stations, args.entries))


if __name__ == "__main__":
    sys.exit(main())
