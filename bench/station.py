#!/usr/bin/env python3
"""Benchmark: the downtime station at 1000 beds / 100,000 patients.

The questions (issue 4, "Benchmark"):
  - initial apply (a new station syncing the vault's full segment): resources/s, target
    at least 100,000/s; and the apply of a 1% delta;
  - patient search latency p50/p95/p99 over 1,000 varied queries, target p95 <= 20 ms;
  - patient summary page over HTTP p50/p95, target p95 <= 50 ms; the census page;
  - resident memory, target at most 300 MB.
Side by side, in the same run, the floor each figure stands on:
  - apply: a bare loader (a separate process) that decrypts and decompresses the same
    segment and inserts every line as (type, id, json) into SQLite with the journal off
    and one index: what storing the data costs at all, without projections or checks;
  - pages: a bare page, the same SQL the summary starts with (every resource of the
    patient) and orjson on each, answered by the same Starlette/uvicorn stack as a bare
    JSON response: what reaching the data over HTTP costs, without the page.

Data: `releve demo generate --beds N --patients P --seed 1` once (cached in the workdir,
with the vault made from it by `releve import --full`); each repeat syncs a fresh station.

Usage: .venv/bin/python bench/station.py [--workdir DIR] [--beds N] [--patients N]
       [--repeat N] [--queries N] [--pages N] [--prepare] [--search-only STATION]
Results: bench/results/station.md and bench/results/station.json.
Internal: `bench/station.py bare-load --segment F --identity K --db F` is the bare loader.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
from capture import code_stamp, free_port, log, machine
from measure import cpu_counters, tree_bytes, warm_page_cache, write_results

from releve.station.index.connection import reader

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "bench" / "results"
RELEVE = str(REPO_ROOT / ".venv" / "bin" / "releve")
PYTHON = str(REPO_ROOT / ".venv" / "bin" / "python")
GNU_TIME = "/usr/bin/time"
SEED = 1
CHANGE_SEED = 20261202
CHANGE_FRACTION = 0.01
DELETE_EVERY = 20
TARGETS = {"apply_per_s": 100_000, "search_p95_ms": 20.0, "summary_p95_ms": 50.0, "rss_mb": 300}
PASSWORD = "bench-password-1"


# --- running things -----------------------------------------------------------------------------


def timed(command: list[str], log_path: Path) -> dict[str, Any]:
    """Run a command under GNU time: wall seconds, CPU seconds, peak RSS, and the CPU the
    rest of the machine used meanwhile (2 shared cores). The writes of the run before are
    flushed to the disk first, untimed: a run pays for its own writes only (an initial
    sync writes 2.7 GB, and its writeback slowed the next run by a fifth, measured)."""
    os.sync()
    busy0, _ = cpu_counters()
    start = time.perf_counter()
    with open(log_path, "wb") as out:
        result = subprocess.run([GNU_TIME, "-f", "%e %U %S %M", *command], stdout=out,
                                stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    busy1, _ = cpu_counters()
    last = result.stderr.decode(errors="replace").strip().splitlines()
    if result.returncode != 0 or not last:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n"
                         f"{result.stderr.decode(errors='replace')[-3000:]}")
    _, user, system, rss_kb = last[-1].split()
    cpu = float(user) + float(system)
    return {"seconds": round(wall, 2), "cpu_s": round(cpu, 1),
            "other_cpu_s": round(max(busy1 - busy0 - cpu, 0.0), 1),
            "peak_rss_mb": round(int(rss_kb) / 1024, 1)}


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, **kwargs)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed:\n"
                         f"{result.stdout.decode(errors='replace')[-2000:]}\n"
                         f"{result.stderr.decode(errors='replace')[-2000:]}")
    return result


# --- the data -----------------------------------------------------------------------------------


def ensure_vault(workdir: Path, beds: int, patients: int) -> dict[str, Any]:
    """The generated hospital and a vault holding it as one full segment (cached)."""
    cache = workdir / f"cache-{beds}b-{patients}p-s{SEED}"
    marker = cache / "ready.json"
    if marker.exists():
        log(f"reusing {cache}")
        return json.loads(marker.read_text())
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    log(f"generating the demo hospital ({beds} beds, {patients} patients)")
    run([RELEVE, "demo", "generate", "--out", str(cache / "hospital"), "--beds", str(beds),
         "--patients", str(patients), "--seed", str(SEED)])
    keys = cache / "keys"
    run([RELEVE, "keys", "station", "bench", "--out", str(keys)])
    run([RELEVE, "keys", "signer", "capture", "--out", str(keys)])
    recipient = (keys / "bench.recipient").read_text().strip()
    run([RELEVE, "vault", "init", str(cache / "vault"), "--recipient", recipient,
         "--signer", str(keys / "capture.pub")])
    log("importing it into a vault (full segment)")
    run([RELEVE, "import", "--vault", str(cache / "vault"), "--signing-key",
         str(keys / "capture.minisign.key"), "--state", str(cache / "writer"), "--full",
         str(cache / "hospital")])
    info = {"cache": str(cache), "vault": str(cache / "vault"), "identity": str(keys / "bench.key"),
            "signing_key": str(keys / "capture.minisign.key"), "writer": str(cache / "writer"),
            "hospital_bytes": tree_bytes(cache / "hospital"),
            "vault_bytes": tree_bytes(cache / "vault" / "segments")}
    marker.write_text(json.dumps(info, indent=2))
    return info


def make_change(data: dict[str, Any], work: Path) -> dict[str, Any]:
    """A copy of the vault with one more delta segment: 1% of the resources changed (a
    meta.tag added; one change in 20 a delete), through `releve import` like any extract."""
    vault = work / "vault-changed"
    shutil.copytree(data["vault"], vault)
    writer = work / "writer-changed"
    shutil.copytree(data["writer"], writer)
    hospital = Path(data["cache"]) / "hospital"
    lines = []
    for path in sorted(hospital.glob("*.ndjson")):
        with open(path, "rb") as handle:
            lines.extend(handle)
    rng = random.Random(CHANGE_SEED)
    chosen = rng.sample(range(len(lines)), round(len(lines) * CHANGE_FRACTION))
    out = work / "change" / "change.ndjson"
    out.parent.mkdir(parents=True, exist_ok=True)
    puts, deleted = 0, []
    with open(out, "wb") as handle:
        for number, index in enumerate(chosen):
            resource = orjson.loads(lines[index])
            if number % DELETE_EVERY == DELETE_EVERY - 1:
                deleted.append(f"{resource['resourceType']}/{resource['id']}")
                continue
            meta = resource.setdefault("meta", {})
            meta["tag"] = [*meta.get("tag", []), {"system": "urn:releve:bench", "code": "1pct"}]
            handle.write(orjson.dumps(resource) + b"\n")
            puts += 1
    # deletions travel as a transaction Bundle, as an HIS extract would carry them
    bundle = {"resourceType": "Bundle", "type": "transaction",
              "entry": [{"request": {"method": "DELETE", "url": key}} for key in deleted]}
    (out.parent / "deletions.json").write_bytes(orjson.dumps(bundle))
    deletes = len(deleted)
    del lines
    run([RELEVE, "import", "--vault", str(vault), "--signing-key", data["signing_key"],
         "--state", str(writer), str(out.parent)])
    return {"vault": str(vault), "puts": puts, "deletes": deletes}


# --- apply --------------------------------------------------------------------------------------


def new_station(work: Path, data: dict[str, Any], name: str) -> Path:
    station = work / name
    shutil.rmtree(station, ignore_errors=True)
    run([RELEVE, "station", "init", str(station), "--identity", data["identity"], "--vault",
         data["vault"]])
    return station


def index_counts(station: Path) -> dict[str, int]:
    conn = reader(station)
    try:
        return {"resources": conn.execute("SELECT count(*) FROM resources").fetchone()[0],
                "patients": conn.execute("SELECT count(*) FROM patients").fetchone()[0]}
    finally:
        conn.close()


def bench_apply(work: Path, data: dict[str, Any], change: dict[str, Any], repeat: int) -> dict[str, Any]:
    runs = []
    for number in range(repeat):
        station = new_station(work, data, f"station-{number}")
        log(f"repeat {number + 1}: initial sync of a new station")
        full = timed([RELEVE, "station", "sync", "--station", str(station), "--vault", data["vault"]],
                     work / "sync-full.log")
        counts = index_counts(station)
        log(f"repeat {number + 1}: bare loader on the same segment")
        bare_db = work / "bare.sqlite"
        bare = timed([PYTHON, __file__, "bare-load", "--segment", _segment_path(data["vault"], 1),
                      "--identity", data["identity"], "--db", str(bare_db)], work / "bare.log")
        bare_db.unlink(missing_ok=True)
        log(f"repeat {number + 1}: the 1% delta")
        delta = timed([RELEVE, "station", "sync", "--station", str(station), "--vault", change["vault"]],
                      work / "sync-delta.log")
        runs.append({"full": full, "bare": bare, "delta": delta, "counts": counts,
                     "index_bytes": tree_bytes(station / "index")})
        if number < repeat - 1:
            shutil.rmtree(station)
    return {"runs": runs, "station": str(station)}


def _segment_path(vault: str, seq: int) -> str:
    return str(Path(vault) / "segments" / f"{seq:010d}.age")


def bare_load_main(argv: list[str]) -> None:
    """The floor of an apply: decrypt, decompress, split lines, store (type, id, json)."""
    import msgspec
    import pyrage
    import zstandard

    parser = argparse.ArgumentParser(prog="station.py bare-load")
    parser.add_argument("--segment", type=Path, required=True)
    parser.add_argument("--identity", type=Path, required=True)
    parser.add_argument("--db", type=Path, required=True)
    args = parser.parse_args(argv)

    class Key(msgspec.Struct):
        resourceType: str = ""
        id: str = ""

    decode = msgspec.json.Decoder(Key).decode
    identities = [pyrage.x25519.Identity.from_str(line.strip())
                  for line in args.identity.read_text().splitlines()
                  if line.startswith("AGE-SECRET-KEY")]
    compressed = io.BytesIO()
    with open(args.segment, "rb") as handle:
        pyrage.decrypt_io(handle, compressed, identities)
    compressed.seek(0)
    plaintext = io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(
        compressed, read_across_frames=True), buffer_size=1 << 20)
    plaintext.readline()  # the header
    conn = sqlite3.connect(args.db, isolation_level=None)
    conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; "
                       "CREATE TABLE r(type TEXT, id TEXT, json BLOB); BEGIN;")
    batch = []
    for line in plaintext:
        key = decode(line)
        batch.append((key.resourceType, key.id, line))
        if len(batch) == 5000:
            conn.executemany("INSERT INTO r VALUES (?,?,?)", batch)
            batch = []
    conn.executemany("INSERT INTO r VALUES (?,?,?)", batch)
    conn.execute("COMMIT")
    conn.execute("CREATE UNIQUE INDEX r_key ON r(type, id)")
    conn.close()


# --- search -------------------------------------------------------------------------------------


def typo(word: str, rng: random.Random) -> str:
    if len(word) < 5:
        return word
    position = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("drop", "swap", "change"))
    if kind == "drop":
        return word[:position] + word[position + 1:]
    if kind == "swap":
        return word[:position] + word[position + 1] + word[position] + word[position + 2:]
    return word[:position] + rng.choice("aeiourstnl") + word[position + 1:]


def make_queries(conn: sqlite3.Connection, count: int, seed: int = 7) -> list[tuple[str, str]]:
    """Varied queries as a ward types them: names (exact, prefix, typo, both orders, no
    accents), birth dates, IPP, INS with spaces, bed numbers."""
    rng = random.Random(seed)
    people = conn.execute("SELECT family, given, birth_date, ipp, ins FROM patients "
                          "WHERE family IS NOT NULL ORDER BY rowid").fetchall()
    sample = rng.sample(people, min(count, len(people)))
    beds = [r[0] for r in conn.execute(
        "SELECT l.name FROM stays s JOIN locations l ON l.id = s.location WHERE s.current = 1")]
    kinds = (["family"] * 25 + ["prefix"] * 15 + ["typo"] * 20 + ["full"] * 10 + ["given-first"] * 5
             + ["birth"] * 10 + ["ipp"] * 5 + ["ins"] * 5 + ["bed"] * 5)
    queries = []
    for number in range(count):
        family, given, birth, ipp, ins = sample[number % len(sample)]
        kind = kinds[number % len(kinds)]
        first_given = (given or "").split()[0] if given else ""
        if kind == "family":
            text = family.lower()
        elif kind == "prefix":
            text = family[:max(3, len(family) // 2)].lower()
        elif kind == "typo":
            text = typo(family.lower(), rng)
        elif kind == "full":
            text = f"{family} {first_given}"
        elif kind == "given-first":
            text = f"{first_given} {family}".lower()
        elif kind == "birth" and birth:
            text = f"{birth[8:10]}/{birth[5:7]}/{birth[:4]}"
        elif kind == "ipp" and ipp:
            text = ipp
        elif kind == "ins" and ins:
            text = " ".join((ins[0], ins[1:3], ins[3:5], ins[5:7], ins[7:10], ins[10:13], ins[13:]))
        elif kind == "bed" and beds:
            text = rng.choice(beds)
        else:
            text = family
        queries.append((kind, text))
    return queries


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 2)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": round(ordered[-1], 2),
            "n": len(ordered)}


def bench_search(station: Path, count: int) -> dict[str, Any]:
    """In-process latency of `search()` (the function the /patients page calls)."""
    sys.path.insert(0, str(REPO_ROOT / "src"))
    from releve.station.index.connection import reader
    from releve.station.views.search import search

    conn = reader(station)
    queries = make_queries(conn, count)
    for _, text in queries[:50]:  # warm the page cache and SQLite's
        search(conn, text)
    times, found = [], 0
    by_kind: dict[str, list[float]] = {}
    for kind, text in queries:
        start = time.perf_counter()
        hits = search(conn, text)
        elapsed = (time.perf_counter() - start) * 1000
        times.append(elapsed)
        by_kind.setdefault(kind, []).append(elapsed)
        found += bool(hits)
    conn.close()
    return {"all": percentiles(times), "with_results": found,
            "by_kind": {k: percentiles(v) for k, v in sorted(by_kind.items())}}


# --- pages over HTTP ----------------------------------------------------------------------------


BARE_APP = """
import sqlite3, sys, orjson, uvicorn
from pathlib import Path
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
station = Path(sys.argv[1])
from releve.station.index.connection import reader
conn = reader(station)  # the index as pages open it: the resources view over the record file
def patient(request):
    rows = conn.execute("SELECT type, json FROM resources WHERE patient = ?",
                        (request.path_params["pid"],)).fetchall()
    parsed = [orjson.loads(j) for _, j in rows]
    return Response(orjson.dumps({"count": len(parsed)}), media_type="application/json")
app = Starlette(routes=[Route("/patients/{pid}", patient)])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
"""


class Server:
    def __init__(self, command: list[str], port: int, log_path: Path):
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log = open(log_path, "wb")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{command[0]} exited; see {log_path}")
            try:
                httpx.get(self.base + "/health", timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise SystemExit(f"server did not start; see {log_path}")

    def rss_mb(self) -> dict[str, float]:
        status = Path(f"/proc/{self.process.pid}/status").read_text()

        def grab(key: str) -> float:
            found = re.search(rf"^{key}:\s*(\d+) kB", status, re.M)
            assert found, f"{key} missing from /proc/PID/status"
            return int(found.group(1)) / 1024
        return {"rss_mb": round(grab("VmRSS"), 1), "peak_rss_mb": round(grab("VmHWM"), 1)}

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def time_pages(client: httpx.Client, paths: list[str]) -> dict[str, float]:
    for path in paths[:20]:
        client.get(path)
    times = []
    for path in paths:
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"GET {path}: {response.status_code}")
    return percentiles(times)


def bench_pages(work: Path, station: Path, pages: int) -> dict[str, Any]:
    # a hospital-wide role: it opens every patient directly, as a nurse did before accounts
    # had wards (a ward's nurse would meet the break-glass form for half the sample)
    run([RELEVE, "station", "user", "add", "bench", "--role", "crisis", "--station", str(station),
         "--password-stdin"], input=PASSWORD.encode())
    conn = reader(station)
    rng = random.Random(11)
    inpatients = [r[0] for r in conn.execute("SELECT DISTINCT patient FROM stays WHERE current = 1")]
    everyone = [r[0] for r in conn.execute("SELECT id FROM patients")]
    wards = [r[0] for r in conn.execute("SELECT id FROM locations WHERE physical_type = 'wa'")]
    conn.close()
    chosen = rng.sample(inpatients, min(pages // 2, len(inpatients)))
    chosen += rng.sample(everyone, pages - len(chosen))
    rng.shuffle(chosen)
    port = free_port()
    server = Server([RELEVE, "station", "serve", "--station", str(station), "--port", str(port)],
                    port, work / "serve.log")
    try:
        # the Origin header a browser sends with a POST: the station refuses posts without it
        with httpx.Client(base_url=server.base, timeout=60, headers={"Origin": server.base}) as client:
            response = client.post("/login", data={"username": "bench", "password": PASSWORD})
            if "releve_session" not in client.cookies:
                raise SystemExit(f"login failed: {response.status_code}")
            summary = time_pages(client, [f"/patients/{pid}" for pid in chosen])
            census = time_pages(client, [f"/wards/{ward}" for ward in wards] * 3)
            queries = make_queries(reader(station), 200)
            search_http = time_pages(client, [f"/patients?q={quote(q)}" for _, q in queries])
            rss = server.rss_mb()
    finally:
        server.stop()
    port = free_port()
    bare = Server([PYTHON, "-c", BARE_APP, str(station), str(port)], port, work / "bare-serve.log")
    try:
        with httpx.Client(base_url=bare.base, timeout=60) as client:
            bare_summary = time_pages(client, [f"/patients/{pid}" for pid in chosen])
    finally:
        bare.stop()
    return {"summary": summary, "census": census, "search_http": search_http,
            "bare_summary": bare_summary, "server": rss, "wards": len(wards),
            "patients_sampled": len(chosen), "inpatients_sampled": len(set(chosen) & set(inpatients))}


# --- report -------------------------------------------------------------------------------------


def median_of(runs: list[dict], part: str, key: str) -> float:
    return statistics.median(r[part][key] for r in runs)


def render(result: dict[str, Any]) -> str:
    m, d, a = result["machine"], result["dataset"], result["apply"]
    runs = a["runs"]
    resources = runs[0]["counts"]["resources"]
    full_s, bare_s = median_of(runs, "full", "seconds"), median_of(runs, "bare", "seconds")
    delta_s = median_of(runs, "delta", "seconds")
    apply_rate = resources / full_s
    changed = result["change"]["puts"] + result["change"]["deletes"]
    s, p = result["search"], result["pages"]
    sync_rss = max(r["full"]["peak_rss_mb"] for r in runs)
    server_rss = p["server"]["peak_rss_mb"]

    def verdict(ok: bool) -> str:
        return "met" if ok else "**NOT met**"

    lines = [
        "# The downtime station at 1000 beds: apply, search, pages, memory",
        "",
        f"Generated by `bench/station.py` on {m['date']}; {len(runs)} repeat(s), median shown "
        "(peak RSS: max over repeats).",
        "",
        f"- Relève: commit {result['code']['head'][:12]} (src sha256 {result['code']['src_sha256'][:12]}"
        f"{', uncommitted changes' if result['code']['src_dirty'] else ''}).",
        f"- Machine: {m['cpu']}, {m['nproc']} cores, {m['memory_gb']} GB RAM, Linux {m['kernel']}, "
        f"Python {m['python']}. Shared machine: the CPU the rest of it used during each timed "
        "run is given (\"other CPU\").",
        f"- Dataset: demo hospital seed {SEED}, {d['beds']} beds, {d['patients']:,} patients: "
        f"**{resources:,} resources**, {d['hospital_bytes'] / 1e6:,.0f} MB of ndjson, one full "
        f"segment of {d['vault_bytes'] / 1e6:,.0f} MB in the vault; station index "
        f"{runs[-1]['index_bytes'] / 1e6:,.0f} MB.",
        f"- 1% change: {result['change']['puts']:,} PUT (a meta.tag added) and "
        f"{result['change']['deletes']:,} DELETE, imported as one delta segment.",
        "",
        "## Apply",
        "",
        "| run | seconds | resources/s | CPU s | other CPU s | peak RSS |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        f"| initial sync (new station, full segment) | {full_s:.2f} | {apply_rate:,.0f} | "
        f"{median_of(runs, 'full', 'cpu_s'):.1f} | {median_of(runs, 'full', 'other_cpu_s'):.1f} | "
        f"{sync_rss:.0f} MB |",
        f"| bare loader (decrypt, split, INSERT type/id/json) | {bare_s:.2f} | "
        f"{resources / bare_s:,.0f} | {median_of(runs, 'bare', 'cpu_s'):.1f} | "
        f"{median_of(runs, 'bare', 'other_cpu_s'):.1f} | "
        f"{max(r['bare']['peak_rss_mb'] for r in runs):.0f} MB |",
        f"| 1% delta sync ({changed:,} records) | {delta_s:.2f} | {changed / delta_s:,.0f} | "
        f"{median_of(runs, 'delta', 'cpu_s'):.1f} | {median_of(runs, 'delta', 'other_cpu_s'):.1f} | "
        f"{max(r['delta']['peak_rss_mb'] for r in runs):.0f} MB |",
        "",
        f"- Initial apply: **{apply_rate:,.0f} resources/s** (target at least "
        f"{TARGETS['apply_per_s']:,}): {verdict(apply_rate >= TARGETS['apply_per_s'])}. "
        f"Relève / bare loader time: {full_s / bare_s:.2f}x.",
        "- Times are whole commands (`releve station sync`), Python start-up, signature and "
        "hash checks, decryption and the index build included.",
        "",
        "## Search (in process, `releve.station.views.search.search`, 1,000 varied queries)",
        "",
        f"p50 {s['all']['p50']} ms, **p95 {s['all']['p95']} ms**, p99 {s['all']['p99']} ms, max "
        f"{s['all']['max']} ms (target p95 at most {TARGETS['search_p95_ms']:.0f} ms): "
        f"{verdict(s['all']['p95'] <= TARGETS['search_p95_ms'])}. {s['with_results']} of "
        f"{s['all']['n']} queries found someone.",
        "",
        "| kind | n | p50 ms | p95 ms | p99 ms |",
        "| --- | ---: | ---: | ---: | ---: |",
        *[f"| {k} | {v['n']} | {v['p50']} | {v['p95']} | {v['p99']} |" for k, v in s["by_kind"].items()],
        "",
        "## Pages over HTTP (loopback, one signed-in client, `releve station serve`)",
        "",
        "| page | n | p50 ms | p95 ms | p99 ms |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| patient summary `/patients/{{id}}` | {p['summary']['n']} | {p['summary']['p50']} | "
        f"{p['summary']['p95']} | {p['summary']['p99']} |",
        f"| bare: the same patients' resources as JSON | {p['bare_summary']['n']} | "
        f"{p['bare_summary']['p50']} | {p['bare_summary']['p95']} | {p['bare_summary']['p99']} |",
        f"| census `/wards/{{id}}` ({p['wards']} wards x 3) | {p['census']['n']} | {p['census']['p50']} | "
        f"{p['census']['p95']} | {p['census']['p99']} |",
        f"| search page `/patients?q=` | {p['search_http']['n']} | {p['search_http']['p50']} | "
        f"{p['search_http']['p95']} | {p['search_http']['p99']} |",
        "",
        f"- Summary p95 **{p['summary']['p95']} ms** (target at most {TARGETS['summary_p95_ms']:.0f} ms): "
        f"{verdict(p['summary']['p95'] <= TARGETS['summary_p95_ms'])}; "
        f"summary / bare p50: {p['summary']['p50'] / p['bare_summary']['p50']:.1f}x. "
        f"{p['patients_sampled']} patients, {p['inpatients_sampled']} of them inpatients.",
        "",
        "## Memory",
        "",
        f"- Web app: RSS {p['server']['rss_mb']:.0f} MB after the pages, peak {server_rss:.0f} MB; "
        f"sync: peak {sync_rss:.0f} MB (target at most {TARGETS['rss_mb']} MB): "
        f"{verdict(max(server_rss, sync_rss) <= TARGETS['rss_mb'])}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "bare-load":
        bare_load_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/releve-bench-station"))
    parser.add_argument("--beds", type=int, default=1000)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--prepare", action="store_true",
                        help="only generate the hospital and its vault (cached), then stop")
    parser.add_argument("--search-only", type=Path, metavar="STATION",
                        help="only time the search over an already synced station; print, write nothing")
    args = parser.parse_args()
    if args.search_only:
        print(json.dumps(bench_search(args.search_only, args.queries), indent=2))
        return
    if not Path(GNU_TIME).exists():
        raise SystemExit("GNU time is needed: apt-get install time")
    args.workdir.mkdir(parents=True, exist_ok=True)
    data = ensure_vault(args.workdir, args.beds, args.patients)
    if args.prepare:
        return
    work = args.workdir / "run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    warm_page_cache(sorted(Path(data["vault"]).rglob("*.age")))
    log("preparing the 1% change")
    change = make_change(data, work)
    applied = bench_apply(work, data, change, args.repeat)
    station = Path(applied["station"])
    log("search")
    searched = bench_search(station, args.queries)
    log("pages")
    pages = bench_pages(work, station, args.pages)
    result = {"machine": machine(), "code": code_stamp(),
              "dataset": {"beds": args.beds, "patients": args.patients, "seed": SEED,
                          "hospital_bytes": data["hospital_bytes"], "vault_bytes": data["vault_bytes"]},
              "change": change, "apply": applied, "search": searched, "pages": pages,
              "targets": TARGETS}
    name = "station" if (args.beds, args.patients) == (1000, 100_000) else f"station-{args.beds}b"
    write_results(args.results, name, result, render(result))


if __name__ == "__main__":
    main()
