#!/usr/bin/env python3
"""Benchmark: a hospital group's stations pulling a new segment from the vault at once.

The questions (issue 20, "Scale"):
  - 600 stations each fetch, check and decrypt a new 1% delta segment of a 1,000-bed
    hospital from the vault on S3 (a real Ceph radosgw, Object Lock, the least-privilege
    policy, the stations' credentials): how long from the delta being in the vault until
    every station holds it (target at most 60 s), the spread of the stations' completion
    times, the requests per second served and the bytes each station reads; and the same
    600 through `releve vault serve` on the local folder, side by side, in the same run;
  - the writer's segment put (Target.commit) to the S3 vault vs to the local folder.

A simulated station does over the network exactly what `releve station sync` does
(station/sync.py): the vault's config (compared with the pinned one), the listing from
the segment before its head, the new segment with its signature, checked by
`chain.fetch_checked` against the hash of the segment it holds, then decrypted and
decompressed (`segment.open_plaintext`) and its records counted. What it does not do is
apply them to a SQLite index (bench/station.py measures that: 1.9 s for this delta).
Stations share processes: P processes x T threads, one thread a station, every thread
released at the same instant (as if every poll timer fired together: the worst case);
per process one boto3 client (or one httpx client) whose connection pool has a
connection per thread, so each station still has its own connection.

Counting: requests per station from the client libraries' hooks (botocore's
before-send, which sees retries too; httpx's request hook); bytes read per station at the
socket (every byte received: headers, listings and bodies).

Usage: .venv/bin/python bench/fleet.py [--workdir DIR] [--stations N] [--processes P]
       [--rounds R] [--put-repeat N] [--report-only]
Results: bench/results/fleet.md and bench/results/fleet.json.
Internal: `bench/fleet.py client` is one process of stations (spec on stdin).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import resource
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import station as station_bench
from capture import code_stamp, free_port, log, machine
from measure import cpu_counters, write_results
from station import ensure_vault, make_change, run

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "bench" / "results"
RELEVE = str(Path(sys.executable).parent / "releve")  # the venv this script runs in
OBJECT_STORE = str(REPO_ROOT / "scripts" / "object-store")
TARGET_S = 60.0
GO_MARGIN = 0.3  # seconds between the go message and the instant every thread starts
PREFIX = "ght"  # the group's prefix: the policy covers it; the hospital's vault is under it
HOSPITAL = f"{PREFIX}/chu-nord"
RETENTION_DAYS = 1
SERVE_CONNECTIONS = 1024  # `vault serve` defaults to 500, fewer than the 600 stations


# --- one process of stations (`fleet.py client`) --------------------------------------------------

_counted = threading.local()


def _count_bytes() -> None:
    """Count what every socket of this process receives, per thread (a thread is a station)."""
    plain_recv, plain_recv_into = socket.socket.recv, socket.socket.recv_into

    def recv(self: socket.socket, *args: Any) -> bytes:
        data = plain_recv(self, *args)
        _counted.bytes = getattr(_counted, "bytes", 0) + len(data)
        return data

    def recv_into(self: socket.socket, *args: Any) -> int:
        got = plain_recv_into(self, *args)
        _counted.bytes = getattr(_counted, "bytes", 0) + got
        return got

    socket.socket.recv = recv  # type: ignore[method-assign]
    socket.socket.recv_into = recv_into  # type: ignore[method-assign]


_operations: dict[str, int] = {}
_operations_lock = threading.Lock()


def _count_request(what: str) -> None:
    _counted.requests = getattr(_counted, "requests", 0) + 1
    with _operations_lock:
        _operations[what] = _operations.get(what, 0) + 1


def _count_s3(request: Any = None, **kwargs: Any) -> None:
    """botocore's before-send: one HTTP request (a retry too) of an operation."""
    _count_request(str(kwargs.get("event_name", "")).rsplit(".", 1)[-1])


def _count_http(request: Any) -> None:
    _count_request(f"{request.method} {re.sub(r'/[0-9]+', '/N', request.url.path)}")


def _sources(spec: dict[str, Any], threads: int) -> Any:
    """A factory of per-station sources sharing one client (and its pool) per process."""
    if spec["kind"] == "s3":
        import boto3
        from botocore.config import Config as BotoConfig

        from releve.vault.s3 import S3Vault

        keys = spec["keys"]
        client = boto3.session.Session().client(
            "s3", endpoint_url=spec["endpoint"], region_name=spec["region"],
            aws_access_key_id=keys["access_key"], aws_secret_access_key=keys["secret_key"],
            config=BotoConfig(signature_version="s3v4", s3={"addressing_style": "path"},
                              retries={"mode": "standard", "max_attempts": 4},
                              connect_timeout=30, read_timeout=120,
                              max_pool_connections=threads,
                              request_checksum_calculation="when_required",
                              response_checksum_validation="when_required"))
        client.meta.events.register("before-send.s3", _count_s3)
        warm = S3Vault(spec["url"], client=client)
        warm.config_bytes()  # a station's client is warm: it has synced before
        warm.listing(max(spec["head_seq"] - 1, 0))
        return lambda: S3Vault(spec["url"], client=client)
    import httpx

    from releve.vault.source import HttpVault

    shared = HttpVault(spec["url"], spec["token"])
    shared.client.close()
    shared.client = httpx.Client(
        base_url=spec["url"], headers={"Authorization": f"Bearer {spec['token']}"},
        timeout=120.0, limits=httpx.Limits(max_connections=threads,
                                           max_keepalive_connections=threads),
        event_hooks={"request": [_count_http]})
    shared.config_bytes()  # warm: the stations synced the segment they hold through this
    shared.listing(max(spec["head_seq"] - 1, 0))  # server, whose cache of hashes has it
    return lambda: shared


def _one_station(source: Any, spec: dict[str, Any], pinned: bytes, identities: list,
                 folder: Path, go: float) -> dict[str, Any]:
    """What `releve station sync` asks of the vault, then the decryption, timed from `go`."""
    from releve.vault import chain
    from releve.vault.segment import open_plaintext

    _counted.bytes, _counted.requests = 0, 0
    marks: dict[str, Any] = {}
    try:
        config = chain.check_pinned(pinned, source.config_bytes(), folder / "config.json")
        listing = source.listing(max(spec["head_seq"] - 1, 0))
        pending = chain.check_listing(spec["head_seq"], spec["head_sha"], listing)
        marks["listed"] = time.monotonic() - go
        prev, records = spec["head_sha"], 0
        for listed in pending:
            path = folder / "segment.age"
            info = chain.fetch_checked(source, config, listed.seq, path, prev, 64 << 20)
            marks["checked"] = time.monotonic() - go
            if spec.get("decrypt", True):
                with open_plaintext(path, identities) as plain:
                    records += sum(1 for _ in plain) - 1  # the header line is not a record
            path.unlink()
            prev = info.sha256
        marks.update(done=time.monotonic() - go, records=records, segments=len(pending),
                     head=prev)
    except Exception as exc:  # counted and reported, never hidden
        marks.update(error=f"{type(exc).__name__}: {exc}"[:300], done=time.monotonic() - go)
    marks.update(requests=_counted.requests, bytes=_counted.bytes)
    return marks


def client_main() -> None:
    """Read the spec, prepare a thread per station, say ready, wait for the go instant,
    run, and print every station's figures as one JSON line."""
    import pyrage

    spec = json.loads(sys.stdin.readline())
    _count_bytes()
    stations = spec["stations"]
    make_source = _sources(spec, len(stations))
    pinned = base64.b64decode(spec["config"])
    identities = [pyrage.x25519.Identity.from_str(
        line.strip()) for line in Path(spec["identity"]).read_text().splitlines()
        if line.startswith("AGE-SECRET-KEY-")]
    start, results = threading.Event(), {}
    go = [0.0]

    def work(name: str) -> None:
        folder = Path(spec["folder"]) / name
        folder.mkdir(parents=True, exist_ok=True)
        source = make_source()
        start.wait()
        results[name] = _one_station(source, spec, pinned, identities, folder, go[0])

    threads = [threading.Thread(target=work, args=(name,)) for name in stations]
    for thread in threads:
        thread.start()
    _operations.clear()  # the warm-up request is not the round's
    print("ready", flush=True)
    go[0] = float(sys.stdin.readline().split()[1])
    time.sleep(max(go[0] - time.monotonic(), 0.0))
    start.set()
    for thread in threads:
        thread.join()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, from the parent's peak
    hwm = re.search(r"^VmHWM:\s*(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    print(json.dumps({"stations": results, "operations": _operations,
                      "cpu_s": usage.ru_utime + usage.ru_stime,
                      "maxrss_mb": int(hwm.group(1)) / 1024 if hwm else 0.0}), flush=True)


# --- the fleet, from the parent -------------------------------------------------------------------


class Fleet:
    """P client processes holding N stations between them, started and ready."""

    def __init__(self, spec: dict[str, Any], stations: int, processes: int, folder: Path):
        self.processes = []
        names = [f"station-{n:04d}" for n in range(stations)]
        for index in range(processes):
            mine = names[index::processes]
            process = subprocess.Popen([sys.executable, __file__, "client"], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)
            assert process.stdin is not None
            process.stdin.write(json.dumps({**spec, "stations": mine,
                                            "folder": str(folder / f"p{index}")}) + "\n")
            process.stdin.flush()
            self.processes.append(process)
        for process in self.processes:
            assert process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                raise SystemExit("a client process did not start")

    def go(self, server_cpu: Any) -> dict[str, Any]:
        """Release every station at one instant; gather their figures."""
        busy0, _ = cpu_counters()
        server0 = server_cpu()
        go = time.monotonic() + GO_MARGIN
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write(f"go {go}\n")
            process.stdin.flush()
        stations, cpu, rss, operations = {}, 0.0, 0.0, {}
        for process in self.processes:
            assert process.stdout is not None
            answer = json.loads(process.stdout.readline())
            stations.update(answer["stations"])
            for name, count in answer["operations"].items():
                operations[name] = operations.get(name, 0) + count
            cpu += answer["cpu_s"]
            rss = max(rss, answer["maxrss_mb"])
            process.wait()
        wall = time.monotonic() - go
        busy1, _ = cpu_counters()
        server = server_cpu() - server0
        return {"go": go, "wall_s": wall, "stations": stations, "operations": operations,
                "clients_cpu_s": cpu,
                "client_process_peak_rss_mb": rss, "server_cpu_s": server,
                "other_cpu_s": max(busy1 - busy0 - cpu - server, 0.0)}


def proc_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2:].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def summary(round_: dict[str, Any], offset: float) -> dict[str, Any]:
    """The round's figures; `offset` is the time from the delta being in the vault to go."""
    stations = list(round_["stations"].values())
    ok = [s for s in stations if "error" not in s]
    done = [s["done"] + offset for s in ok]
    checked = [s["checked"] + offset for s in ok if "checked" in s]
    requests = sum(s["requests"] for s in stations)
    bytes_read = [s["bytes"] for s in ok]
    span = max(s["done"] for s in stations) if stations else 0.0
    errors = sorted({s["error"] for s in stations if "error" in s})
    return {
        "stations": len(stations), "holding": len(ok), "errors": len(stations) - len(ok),
        "error_kinds": errors[:5], "delta_in_vault_to_go_s": round(offset, 3),
        "all_hold_s": round(max(done), 2) if done and len(ok) == len(stations) else None,
        "p50_s": round(pct(done, 0.5), 2) if done else None,
        "p95_s": round(pct(done, 0.95), 2) if done else None,
        "max_s": round(max(done), 2) if done else None,
        "all_checked_s": round(max(checked), 2) if checked else None,
        "records_per_station": sorted({s.get("records") for s in ok}),
        "requests": requests, "operations": round_["operations"],
        "requests_per_station": round(requests / len(stations), 2),
        "requests_per_s": round(requests / span, 1) if span else None,
        "bytes_per_station_median": int(statistics.median(bytes_read)) if bytes_read else None,
        "bytes_per_station_max": max(bytes_read) if bytes_read else None,
        "bytes_total": sum(s["bytes"] for s in stations),
        "mb_per_s": round(sum(s["bytes"] for s in stations) / span / 1e6, 1) if span else None,
        "clients_cpu_s": round(round_["clients_cpu_s"], 1),
        "server_cpu_s": round(round_["server_cpu_s"], 1),
        "other_cpu_s": round(round_["other_cpu_s"], 1),
        "client_process_peak_rss_mb": round(round_["client_process_peak_rss_mb"]),
    }


# --- the vaults ----------------------------------------------------------------------------------


class Store:
    """scripts/object-store's Ceph radosgw in a folder of the workdir, with its users."""

    def __init__(self, folder: Path):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self.folder = folder
        started = time.perf_counter()
        run([OBJECT_STORE, "start", str(folder), str(free_port()), str(free_port())])
        self.start_s = time.perf_counter() - started
        found = json.loads((folder / "credentials.json").read_text())
        self.endpoint, self.region, self.users = found["endpoint"], found["region"], found["users"]

    def env(self, role: str) -> dict[str, str]:
        keys = self.users[role]
        return {**os.environ, "AWS_ACCESS_KEY_ID": keys["access_key"],
                "AWS_SECRET_ACCESS_KEY": keys["secret_key"], "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}

    def client(self, role: str) -> Any:
        import boto3
        from botocore.config import Config as BotoConfig

        keys = self.users[role]
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, region_name=self.region,
            aws_access_key_id=keys["access_key"], aws_secret_access_key=keys["secret_key"],
            config=BotoConfig(signature_version="s3v4", s3={"addressing_style": "path"},
                              request_checksum_calculation="when_required",
                              response_checksum_validation="when_required"))

    def pids(self) -> list[int]:
        return [int(p.read_text()) for p in (self.folder / "run").glob("*.pid")]

    def stop(self) -> None:
        subprocess.run([OBJECT_STORE, "stop", str(self.folder)], check=False)


def timed_run(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    run(command, env=env)
    return time.perf_counter() - started


def import_command(vault: str, data: dict[str, Any], state: Path, what: list[str],
                   env: dict[str, str] | None = None) -> float:
    return timed_run([RELEVE, "import", "--vault", vault, "--signing-key", data["signing_key"],
                      "--state", str(state), *what], env)


def s3_vault(store: Store, data: dict[str, Any], work: Path) -> tuple[str, dict[str, Any]]:
    """`vault init` (owner), `vault policy --apply` on the group's prefix, the full import
    (capture's keys)."""
    bucket = f"releve-{secrets.token_hex(4)}"
    store.client("owner").create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    url = f"s3://{bucket}/{HOSPITAL}"
    keys = Path(data["cache"]) / "keys"
    recipient = (keys / "bench.recipient").read_text().strip()
    run([RELEVE, "vault", "init", url, "--recipient", recipient, "--signer",
         str(keys / "capture.pub"), "--retention-days", str(RETENTION_DAYS)], env=store.env("owner"))
    run([RELEVE, "vault", "policy", f"s3://{bucket}/{PREFIX}", "--writer",
         store.users["capture"]["user"], "--reader", store.users["station"]["user"], "--apply"],
        env=store.env("owner"))
    log("full import into the S3 vault")
    full_s = import_command(url, data, work / "writer-s3", ["--full", str(Path(data["cache"]) / "hospital")],
                            store.env("capture"))
    return url, {"bucket": bucket, "full_import_s": round(full_s, 2)}


def serve(vault: Path, work: Path) -> tuple[subprocess.Popen, str, str]:
    tokens = {role: secrets.token_urlsafe(32) for role in ("writer", "reader")}
    for role, token in tokens.items():
        (work / f"{role}.token").write_text(token + "\n")
        (work / f"{role}.token").chmod(0o600)
    port = free_port()
    process = subprocess.Popen(
        [RELEVE, "vault", "serve", str(vault), "--port", str(port), "--writer-token-file",
         str(work / "writer.token"), "--reader-token-file", str(work / "reader.token"),
         "--max-connections", str(SERVE_CONNECTIONS)],
        stdout=open(work / "serve.log", "ab"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, url, tokens["reader"]
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("releve vault serve did not start")


# --- the writer's put -----------------------------------------------------------------------------


def write_and_commit(target: Any, scratch: Path, folder: Path, seq: int) -> tuple[float, float]:
    """A segment written as the writer writes it (through the target's stager, fsync at
    the end), then committed: (stage seconds, commit seconds)."""
    from releve.vault import format as fmt

    scratch.mkdir(parents=True, exist_ok=True)
    segment = folder / fmt.segment_name(seq)
    signature = (folder / fmt.signature_name(seq)).read_bytes()
    os.sync()  # earlier writes are not this put's
    started = time.perf_counter()
    stager = target.stager(scratch)
    with open(segment, "rb") as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            stager.write(chunk)
    staged = stager.finish()
    staged_at = time.perf_counter()
    target.commit(seq, staged, signature)
    return staged_at - started, time.perf_counter() - staged_at


def put_bench(store: Store, bucket: str, local_vault: Path, s3_files: Path, work: Path,
              repeat: int) -> dict[str, Any]:
    """The full segment then the delta written and committed to a fresh vault each repeat
    (the same config and segments): LocalVault in a folder, S3Vault under a new prefix with
    the capture's keys. The segment's bytes are the same; only the target differs."""
    from releve.vault import format as fmt
    from releve.vault.s3 import S3Vault
    from releve.vault.store import LocalVault

    runs: list[dict[str, Any]] = []
    capture = store.client("capture")
    for number in range(repeat):
        root = work / f"put-local-{number}"
        root.mkdir(parents=True)
        shutil.copyfile(local_vault / fmt.CONFIG_NAME, root / fmt.CONFIG_NAME)
        (root / fmt.SEGMENTS_DIR).mkdir(mode=0o700)
        local = LocalVault(root)
        remote = S3Vault(f"s3://{bucket}/{PREFIX}/put-{number}", client=capture)
        remote._put(fmt.CONFIG_NAME, (s3_files / fmt.CONFIG_NAME).read_bytes(), RETENTION_DAYS)
        remote.retention_days()  # read once, as a running writer has it
        figures: dict[str, Any] = {}
        for seq, label in ((1, "full"), (2, "delta")):
            for name, target, folder in (("local", local, local_vault / fmt.SEGMENTS_DIR),
                                         ("s3", remote, s3_files)):
                stage_s, commit_s = write_and_commit(target, work / "put-scratch", folder, seq)
                figures[f"{name}_{label}_stage_s"] = stage_s
                figures[f"{name}_{label}_commit_s"] = commit_s
                figures[f"{name}_{label}_s"] = stage_s + commit_s
        shutil.rmtree(root)
        figures["delta_bytes"] = (s3_files / fmt.segment_name(2)).stat().st_size
        figures["full_bytes"] = (s3_files / fmt.segment_name(1)).stat().st_size
        runs.append({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()})
        log(f"put repeat {number + 1}: {runs[-1]}")
    median = {key: type(runs[0][key])(round(statistics.median(r[key] for r in runs), 4))
              for key in runs[0]}
    return {"runs": runs, "median": median,
            "delta_ratio": round(median["s3_delta_s"] / median["local_delta_s"], 1),
            "full_ratio": round(median["s3_full_s"] / median["local_full_s"], 1),
            "delta_commit_ratio": round(median["s3_delta_commit_s"] / median["local_delta_commit_s"], 1)}


def download_s3(store: Store, url: str, folder: Path) -> None:
    """The S3 vault's config and two segments with their signatures, as stations read them."""
    from releve.vault import format as fmt
    from releve.vault.s3 import S3Vault

    folder.mkdir(parents=True, exist_ok=True)
    vault = S3Vault(url, client=store.client("station"))
    (folder / fmt.CONFIG_NAME).write_bytes(vault.config_bytes())
    for seq in (1, 2):
        (folder / fmt.signature_name(seq)).write_bytes(vault.fetch(seq, folder / fmt.segment_name(seq)))


# --- the run --------------------------------------------------------------------------------------


def fleet_rounds(args: argparse.Namespace, specs: dict[str, dict[str, Any]], imports: dict[str, Any],
                 cpu_of: dict[str, Any], work: Path) -> dict[str, list[dict[str, Any]]]:
    """Round 1 of each kind: stations ready, the delta imported, then go (measured from the
    import's end). Later rounds: the same stations again from the segment before, go at once.
    Last, one idle round of each: nothing new since the stations' head (a poll's cost)."""
    rounds: dict[str, list[dict[str, Any]]] = {
        "s3": [], "http": [], "s3-nodecrypt": [], "http-nodecrypt": [], "s3-idle": [], "http-idle": []}
    for number in range(args.rounds):
        for kind in (("s3", "http") if number % 2 == 0 else ("http", "s3")):
            folder = work / "stations" / kind
            fleet = Fleet(specs[kind], args.stations, args.processes, folder)
            since = None
            if number == 0:
                imports[kind]["delta_import_s"] = round(imports[kind]["run"](), 2)
                since = time.monotonic()
            result = fleet.go(cpu_of[kind])
            figures = summary(result, result["go"] - since if since else 0.0)
            figures["round"] = number + 1
            heads = {s.get("head") for s in result["stations"].values()}
            specs[kind]["delta_head"] = next(iter(heads - {None}), None)
            rounds[kind].append(figures)
            shutil.rmtree(folder, ignore_errors=True)
            log(f"{kind} round {number + 1}: {json.dumps(figures)}")
    for kind in ("s3", "http"):
        for variant, changes in (("nodecrypt", {"decrypt": False}),
                                 ("idle", {"head_seq": 2, "head_sha": specs[kind]["delta_head"]})):
            folder = work / "stations" / kind
            result = Fleet({**specs[kind], **changes}, args.stations, args.processes,
                           folder).go(cpu_of[kind])
            figures = summary(result, 0.0)
            rounds[f"{kind}-{variant}"].append(figures)
            shutil.rmtree(folder, ignore_errors=True)
            log(f"{kind} {variant}: {json.dumps(figures)}")
    return rounds


def main() -> None:
    if sys.argv[1:2] == ["client"]:
        client_main()
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/releve-bench-fleet"))
    parser.add_argument("--beds", type=int, default=1000)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--stations", type=int, default=600)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--put-repeat", type=int, default=5)
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite fleet.md from fleet.json, measuring nothing")
    args = parser.parse_args()
    if args.report_only:
        result = json.loads((RESULTS / "fleet.json").read_text())
        write_results(RESULTS, "fleet", result, report(result))
        return
    station_bench.RELEVE = RELEVE  # the data helpers run the same command line
    os.environ["PYTHONPATH"] = str(REPO_ROOT / "src")  # this tree's Relève, in every child
    data = ensure_vault(args.workdir, args.beds, args.patients)
    work = args.workdir / "run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log("the 1% change (bench/station.py's)")
    change = make_change(data, work)
    local = work / "vault-local"
    shutil.copytree(data["vault"], local)
    shutil.copytree(data["writer"], work / "writer-local")
    log("starting the object store")
    store = Store(args.workdir / "ceph")
    server = None
    try:
        url, s3_info = s3_vault(store, data, work)
        server, http_url, token = serve(local, work)
        from releve.vault.s3 import S3Vault
        from releve.vault.store import LocalVault

        s3_reader = S3Vault(url, client=store.client("station"))
        station_keys = store.users["station"]
        specs = {
            "s3": {"kind": "s3", "url": url, "endpoint": store.endpoint, "region": store.region,
                   "keys": {k: station_keys[k] for k in ("access_key", "secret_key")},
                   "config": base64.b64encode(s3_reader.config_bytes()).decode(),
                   "head_seq": 1, "head_sha": s3_reader.head()[1], "identity": data["identity"]},
            "http": {"kind": "http", "url": http_url, "token": token,
                     "config": base64.b64encode((local / "config.json").read_bytes()).decode(),
                     "head_seq": 1, "head_sha": LocalVault(local).head()[1],
                     "identity": data["identity"]},
        }
        change_dir = str(work / "change")
        imports: dict[str, Any] = {
            "s3": {"run": lambda: import_command(url, data, work / "writer-s3", [change_dir],
                                                 store.env("capture"))},
            "http": {"run": lambda: import_command(str(local), data, work / "writer-local",
                                                   [change_dir])}}
        cpu_of = {"s3": lambda: proc_cpu(store.pids()), "http": lambda: proc_cpu([server.pid])}
        rounds = fleet_rounds(args, specs, imports, cpu_of, work)
        log("the writer's put: S3 vs folder")
        download_s3(store, url, work / "s3-files")
        puts = put_bench(store, s3_info["bucket"], local, work / "s3-files", work, args.put_repeat)
        delta_bytes = puts["median"]["delta_bytes"]
        folder_delta_bytes = (local / "segments" / "0000000002.age").stat().st_size
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        store.stop()
    result = {
        "machine": machine(), "code": code_stamp(),
        "dataset": {"beds": args.beds, "patients": args.patients,
                    "full_segment_bytes": data["vault_bytes"], "delta_segment_bytes": delta_bytes,
                    "delta_segment_bytes_folder": folder_delta_bytes,
                    "change": {"puts": change["puts"], "deletes": change["deletes"]}},
        "setup": {"stations": args.stations, "processes": args.processes,
                  "threads_per_process": -(-args.stations // args.processes),
                  "store_start_s": round(store.start_s, 1), "s3": s3_info,
                  "serve_max_connections": SERVE_CONNECTIONS,
                  "delta_import_s": {k: v.get("delta_import_s") for k, v in imports.items()}},
        "rounds": rounds, "put": puts, "target_s": TARGET_S,
    }
    write_results(RESULTS, "fleet", result, report(result))
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(store.folder, ignore_errors=True)


def med(rounds: list[dict[str, Any]], key: str) -> Any:
    values = [r[key] for r in rounds if r.get(key) is not None]
    return round(statistics.median(values), 2) if values else None


def report(result: dict[str, Any]) -> str:
    m, setup, rounds, puts = result["machine"], result["setup"], result["rounds"], result["put"]
    pm = puts["median"]
    data = result["dataset"]
    s3, http = rounds["s3"], rounds["http"]
    lines = [
        "# A hospital group's stations pulling a new segment: S3 vault vs `releve vault serve`",
        "",
        f"Generated by `bench/fleet.py` on {m['date']}; {len(s3)} round(s) of each, median shown.",
        "",
        f"- Relève: commit {result['code']['head'][:12]} (src sha256 {result['code']['src_sha256'][:12]}).",
        f"- Machine: {m['cpu']}, {m['nproc']} cores, {m['memory_gb']} GB RAM, Linux {m['kernel']}, "
        f"Python {m['python']}. Shared and noisy: the CPU the rest of it used is given (\"other CPU\").",
        f"- Data: demo hospital seed 1, {data['beds']} beds, {data['patients']:,} patients; full "
        f"segment {data['full_segment_bytes'] / 1e6:.1f} MB; the 1% change ({data['change']['puts']:,} "
        f"PUT, {data['change']['deletes']:,} DELETE, bench/station.py's) as one delta segment of "
        f"{data['delta_segment_bytes']:,} bytes on S3 ({data['delta_segment_bytes_folder']:,} in "
        "the folder: the same records, another encryption).",
        f"- S3: Ceph radosgw (scripts/object-store, single node, loopback, started in "
        f"{setup['store_start_s']} s), vault made by `releve vault init s3://... --retention-days 1`, "
        "`vault policy --apply`; imports with the capture's keys, stations with the stations' keys.",
        f"- Folder: `releve vault serve` on the same machine, reader token, --max-connections "
        f"{setup['serve_max_connections']} (the default, 500, is below 600 stations).",
        f"- Stations: {setup['stations']} simulated as {setup['processes']} processes x "
        f"{setup['threads_per_process']} threads (one thread a station); each process shares one "
        "client (boto3, or httpx) whose pool has a connection per thread. Each does what "
        "`releve station sync` asks of the vault (config, listing, segment and signature, "
        "`chain.fetch_checked` against the hash it holds), then decrypts, decompresses and "
        "counts the records; it does not apply them to SQLite (bench/station.py: 1.9 s a station).",
        "- **All stations start at the same instant t0** (every poll timer firing together: "
        "the worst case). In round 1, t0 is right after the delta's import ended (its "
        "`delta in vault -> go` gap is counted in the times); later rounds re-run the same "
        "pull, timed from t0.",
        "- Clients, vault server and store share the 2 cores: the times below are an upper bound "
        "for the server side (the 600 stations' own CPU would be on 600 machines).",
        "",
        "## Delta in the vault until every station holds it",
        "",
        "| vault | round | stations holding | all hold s | p50 s | p95 s | max s | all fetched+checked s "
        "| requests | req/station | req/s | bytes/station | MB/s | server CPU s | clients CPU s | other CPU s "
        "| client process peak RSS |",
        "| --- " + "| ---: " * 16 + "|",
    ]
    for kind, label in (("s3", "S3 (radosgw)"), ("http", "vault serve"),
                        ("s3-nodecrypt", "S3, fetch + check only"),
                        ("http-nodecrypt", "vault serve, fetch + check only"),
                        ("s3-idle", "S3, idle poll"), ("http-idle", "vault serve, idle poll")):
        for r in rounds[kind]:
            lines.append(
                f"| {label} | {r['round'] if 'round' in r else '-'} | {r['holding']}/{r['stations']} "
                f"| {r['all_hold_s']} | {r['p50_s']} | {r['p95_s']} | {r['max_s']} | {r['all_checked_s']} "
                f"| {r['requests']:,} | {r['requests_per_station']} | {r['requests_per_s']} "
                f"| {r['bytes_per_station_median']:,} | {r['mb_per_s']} | {r['server_cpu_s']} "
                f"| {r['clients_cpu_s']} | {r['other_cpu_s']} | {r['client_process_peak_rss_mb']} MB |")
    s3_all, http_all = med(s3, "all_hold_s"), med(http, "all_hold_s")
    verdict = "met" if s3_all is not None and s3_all <= TARGET_S else "NOT met"
    every = [r for kind in rounds.values() for r in kind]
    errors = sorted({e for r in every for e in r["error_kinds"]})
    counted = sorted({n for r in s3 + http for n in r["records_per_station"] if n is not None})
    lines += [
        "",
        f"- S3: every station holds the delta after **{s3_all} s** (median of the rounds where "
        f"every station held it; target at "
        f"most {TARGET_S:.0f} s): **{verdict}**. p50 {med(s3, 'p50_s')} s, p95 {med(s3, 'p95_s')} s, "
        f"max {med(s3, 'max_s')} s; {med(s3, 'requests_per_s')} requests/s; "
        f"{med(s3, 'bytes_per_station_median'):,.0f} bytes read per station "
        f"({med(s3, 'requests_per_station')} requests).",
        f"- vault serve: **{http_all} s** (median of the rounds where every station held it); "
        f"p50 {med(http, 'p50_s')} s, p95 {med(http, 'p95_s')} s; "
        f"{med(http, 'requests_per_s')} requests/s; {med(http, 'bytes_per_station_median'):,.0f} "
        f"bytes per station ({med(http, 'requests_per_station')} requests).",
        f"- S3 / vault serve, time until all hold: {s3_all / http_all:.2f}x; server CPU "
        f"(every Ceph daemon vs the one serve process): {med(s3, 'server_cpu_s')} s vs "
        f"{med(http, 'server_cpu_s')} s." if s3_all and http_all else "- (no ratio: a side failed)",
        "- Fetch + check only: the same pull without the decryption (the clients' heaviest "
        "part, which real stations do on their own CPUs): what the vault side allows on this "
        "machine. Idle poll: the same stations once they hold the delta (config and listing, "
        "nothing to fetch): what every poll costs when nothing is new.",
        "- Stations that failed, every round included: "
        + ", ".join(f"{kind} {sum(r['errors'] for r in kind_rounds)}"
                    for kind, kind_rounds in rounds.items())
        + (f" ({'; '.join(errors)}). A station's HttpVault does not retry a GET on a reset "
           "connection: that station would get the segment at its next poll." if errors else "."),
        f"- Records counted per station: {counted}.",
        f"- Delta import (`releve import`, one run, whole command): S3 {setup['delta_import_s']['s3']} s, "
        f"folder {setup['delta_import_s']['http']} s. Full import into S3: {setup['s3']['full_import_s']} s.",
        "",
        "## The writer's put: S3 vault vs local folder",
        "",
        f"The same segments written and committed (`Target.stager` then `Target.commit`: "
        f"S3Vault with the capture's keys vs LocalVault), a fresh vault each repeat, median of "
        f"{len(puts['runs'])}:",
        "",
        "| segment | bytes | folder: stage s | folder: commit s | folder total s | S3: stage s "
        "| S3: commit s | S3 total s | S3 / folder, total |",
        "| --- " + "| ---: " * 8 + "|",
        *[f"| {label} | {pm[f'{label}_bytes']:,} | {pm[f'local_{label}_stage_s']} "
          f"| {pm[f'local_{label}_commit_s']} | {pm[f'local_{label}_s']} | {pm[f's3_{label}_stage_s']} "
          f"| {pm[f's3_{label}_commit_s']} | {pm[f's3_{label}_s']} "
          f"| {'**' if label == 'delta' else ''}{puts[f'{label}_ratio']}x{'**' if label == 'delta' else ''} |"
          for label in ("delta", "full")],
        "",
        f"- The 1% delta's put: S3 / folder **{puts['delta_ratio']}x** (stage + commit; the commit "
        f"alone {puts['delta_commit_ratio']}x).",
        "",
        "Stage: the segment's bytes written through the target's stager (hashed, fsync'ed): "
        "into the vault's own staging folder, or the writer's scratch folder for S3. Commit: "
        "for the folder a hard link and two folder fsyncs; for S3 the head listing, an MD5 "
        "pass and two PUTs (signature, then segment) with Object Lock in COMPLIANCE mode.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
