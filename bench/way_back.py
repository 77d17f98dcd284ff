#!/usr/bin/env python3
"""Benchmark: the way back, `releve journal reconcile` and `releve verify` (issue 18).

The questions:
  - Reconcile: a station whose journal holds 10,000 entries (observations,
    administrations, notes, transmissions, a few downtime orders, with corrections and
    cancellations among them, on the inpatients of the demo HIS) filed into a fresh demo
    HIS: wall time and entries/s, against the HIS's bare transaction rate on the same
    Bundles in the same run: target reconcile >= 0.8x bare.
  - Verify: the 1,000-bed demo hospital, its vault captured once: `releve verify` wall
    time and peak RSS against bare paging of the same server (every searchable type, the
    same `_count`, each page parsed and thrown away) in the same run: target at most 1.3x
    bare, and peak RSS well under 1 GB.

"The same Bundles" are captured on the wire: an untimed reconcile of a copy of the station
runs through a recording proxy into its own fresh HIS; the bare client then posts every
transaction Bundle it recorded, in the same order with the same headers, to another
fresh HIS (httpx, the answer parsed, no planning, no fates). The timed reconcile runs
straight against a third fresh HIS, on a fresh copy of the station. Each fresh HIS is a
copy of the cached database. Recording on the wire rather than building the Bundles with
wayback/'s functions: the bare client sends exactly what reconcile sent, whatever the
planning's code becomes. Every timed command is a process of its own (Python start-up
included), under GNU time (CPU, peak RSS), with the HIS's CPU and the rest of the
machine's read meanwhile; `--repeat N` times N pairs, alternating which goes first.

Data: `releve demo his --beds N` loads the hospital (seed 1) once into a database cached
in WORKDIR/cache-Nb-s1-<hash of src/releve/demo>, then `releve capture --once` captures it
into a vault cached beside it; a change to the demo's code makes both again.

Usage: .venv/bin/python bench/way_back.py [--workdir DIR] [--beds N] [--entries N]
       [--repeat N] [--count N] [--only reconcile|verify] [--keep] [--results DIR]
(`--beds 100` for a quick check; every `releve` started runs this tree's src/.) At 1000
beds on the shared 2-core machine, the cache made: about 1.5 minutes for the reconcile
section and 3 to 6 for verify's (the others' load decides), each further `--repeat`
adding some 30 s and 2 to 4 minutes; the first run of a demo's code adds the HIS's load
and the capture (6 to 9 minutes).
Results: bench/results/way_back.md ("## Reconcile", "## Verify") and
bench/results/way-back.json (a section run alone keeps the other's figures).
Internal: `bench/way_back.py bare-post ...` and `bench/way_back.py bare-page ...` are the
bare clients.
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import copy
import datetime as dt
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
from capture import (
    FHIR_JSON,
    SEED,
    Capture,
    His,
    code_stamp,
    copy_database,
    dataset,
    free_port,
    installed_env,
    log,
    machine,
    releve_executable,
    run_timed,
    searchable_types,
)
from measure import scratch, tree_bytes, warm_page_cache, write_section

from releve import clock
from releve.fhir.clinical.vitals import MEASURES
from releve.journal.book import Journal
from releve.journal.entry import Author, Draft, Entry
from releve.journal.fates import DONE, Fates
from releve.journal.kinds import Context, Invalid, administration, note, observation, order
from releve.station.sync import init_station
from releve.vault.keys import create_station_identity

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "bench" / "results"
TITLE = "The way back: reconcile and verify"
TARGETS = {"reconcile_over_bare_at_least": 0.8, "verify_over_bare_at_most": 1.3, "verify_rss_mb_under": 1024}
PAGE_SIZE = 1000  # capture's; verify's own when it says otherwise (--count)
ZONE = "Europe/Paris"
DOWNTIME_HOURS = 20  # the entries' clinical times spread over the last hours
BATCH = 50  # entries per Journal.append: a shift's worth of one author
HOP = {"host", "connection", "keep-alive", "content-length", "transfer-encoding", "accept-encoding",
       "content-encoding", "proxy-connection", "te", "upgrade"}


# --- the hospital, cached ----------------------------------------------------------------


def demo_stamp() -> str:
    """The demo HIS and its hospital's code: a database loaded by other code is not reused."""
    digest = hashlib.sha256()
    folder = REPO_ROOT / "src" / "releve" / "demo"
    for path in sorted(folder.rglob("*.py")):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def ensure_hospital(exe: str, workdir: Path, beds: int) -> dict[str, Any]:
    """The HIS's database of this size and a vault captured from it, made once."""
    cache = workdir / f"cache-{beds}b-s{SEED}-{demo_stamp()}"
    marker = cache / "ready.json"
    if marker.exists():
        log(f"reusing {cache}")
        return json.loads(marker.read_text())
    for stale in workdir.glob(f"cache-{beds}b-s{SEED}-*"):
        log(f"removing {stale}: made by another version of the demo")
        shutil.rmtree(stale)
    cache.mkdir(parents=True)
    patients = beds * 100  # the generator's default
    log(f"loading the demo hospital ({beds} beds) into the HIS; minutes at 1000 beds")
    his = His(exe, cache / "his.db", beds, patients, cache / "his-load.log")
    try:
        load_s = his.wait_ready()
        capture = Capture(exe, cache, his.base)
        capture.init()
        log("capturing it into the vault")
        started = time.perf_counter()
        subprocess.run(capture.command(), check=True, capture_output=True, env=installed_env())
        capture_s = time.perf_counter() - started
        held = dataset(his.base, cache / "his.db")
    finally:
        his.stop()
    info = {"cache": str(cache), "db": str(cache / "his.db"), "beds": beds, "patients": patients,
            "vault": str(capture.vault), "identity": str(capture.keys / "bench.key"),
            "load_s": round(load_s, 1), "capture_s": round(capture_s, 1),
            "vault_bytes": tree_bytes(capture.vault), **held}
    marker.write_text(json.dumps(info, indent=2))
    return info


@contextlib.contextmanager
def fresh_his(exe: str, hospital: dict[str, Any], work: Path, name: str) -> Iterator[His]:
    """A demo HIS on a copy of the cached database: the restored HIS, untouched."""
    db = work / f"{name}.db"
    copy_database(Path(hospital["db"]), db)
    his = His(exe, db, hospital["beds"], hospital["patients"], work / f"{name}.log")
    try:
        his.wait_ready()
        yield his
    finally:
        his.stop()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)


def pages(client: httpx.Client, url: str, params: dict[str, Any]) -> Iterator[tuple[dict[str, Any], int]]:
    """Each page of a search, parsed, with its size in bytes."""
    response = client.get(url, params=params)
    while True:
        response.raise_for_status()
        bundle = orjson.loads(response.content)
        yield bundle, len(response.content)
        link = next((x["url"] for x in bundle.get("link", []) if x.get("relation") == "next"), None)
        if link is None:
            return
        response = client.get(link)


def resources(client: httpx.Client, url: str) -> Iterator[dict[str, Any]]:
    for bundle, _ in pages(client, url, {"_count": PAGE_SIZE}):
        for entry in bundle.get("entry") or []:
            yield entry["resource"]


def inpatients(base: str) -> tuple[dict[str, str], dict[str, list[dict]]]:
    """The HIS's inpatients (patient id -> stay in progress) and their active orders."""
    stays: dict[str, str] = {}
    orders: dict[str, list[dict]] = collections.defaultdict(list)
    with httpx.Client(headers={"Accept": FHIR_JSON}, timeout=300) as client:
        for stay in resources(client, f"{base}/Encounter"):
            if stay.get("status") == "in-progress" and stay.get("class", {}).get("code") == "IMP":
                stays[stay["subject"]["reference"].removeprefix("Patient/")] = stay["id"]
        for order in resources(client, f"{base}/MedicationRequest"):
            patient = order.get("subject", {}).get("reference", "").removeprefix("Patient/")
            if order.get("status") == "active" and patient in stays:
                orders[patient].append(order)
    return stays, dict(orders)


# --- the station and its journal -----------------------------------------------------------


NURSES = [Author(f"ide{n:02d}", f"Infirmier {n:02d}", "nurse") for n in range(1, 13)]
PHYSICIANS = [Author(f"med{n:02d}", f"Dr Médecin {n:02d}", "physician") for n in range(1, 5)]
# what a nurse's and a physician's shift write, in shares of their entries
NURSE_ACTS = {"observation": 52, "administration": 23, "note": 6, "transmission": 8, "correction": 9,
              "cancellation": 2}
PHYSICIAN_ACTS = {"order": 35, "note": 45, "correction": 20}
PHYSICIAN_SHIFTS = 10  # one batch in ten is a physician's
DRUGS = [{"drug": "Paracétamol", "code": "N02BE01", "dose": "1", "unit": "g", "route": "orale", "frequency": "3"},
         {"drug": "Enoxaparine", "code": "B01AB05", "dose": "4000", "unit": "UI", "route": "sc", "frequency": "1"},
         {"drug": "Amoxicilline", "code": "J01CA04", "dose": "1", "unit": "g", "route": "iv", "frequency": "3"},
         {"drug": "Furosémide", "code": "C03CA01", "dose": "40", "unit": "mg", "route": "orale", "frequency": "1"}]
WORDS = ["Patient calme", "douleur cotée à 3", "pansement refait", "bilan sanguin prélevé",
         "alimentation reprise", "lever au fauteuil", "famille prévenue", "sommeil correct",
         "surveillance de la diurèse", "perfusion en place", "pas de nausées", "à revoir demain"]
CORRECTABLE = {"observation", "administration", "note", "transmission"}


class Shifts:
    """Writes a downtime's entries into a station's journal, as its wards would: each
    batch one author's, in time order, corrections naming entries already written."""

    def __init__(self, station: Path, stays: dict[str, str], orders: dict[str, list[dict]],
                 count: int, seed: int = 18):
        self.journal = Journal(station)
        self.stays, self.orders = stays, {p: list(o) for p, o in orders.items()}
        self.patients = sorted(stays)
        self.count, self.rng = count, random.Random(seed)
        self.now = clock.now()
        self.start = self.now - dt.timedelta(hours=DOWNTIME_HOURS)
        self.correctable: list[Entry] = []  # current versions a correction may replace
        self.kinds: collections.Counter[str] = collections.Counter()

    def write(self) -> collections.Counter[str]:
        written = 0
        while written < self.count:
            physician = self.rng.randrange(PHYSICIAN_SHIFTS) == 0
            author = self.rng.choice(PHYSICIANS if physician else NURSES)
            acts = PHYSICIAN_ACTS if physician else NURSE_ACTS
            drafts = []
            for _ in range(min(BATCH, self.count - written)):
                act = self.rng.choices(list(acts), weights=list(acts.values()))[0]
                when = self.start + (self.now - self.start) * (written + len(drafts)) / self.count
                drafts.append(self.draft(act, author, when))
            for entry in self.journal.append(drafts, author):
                self.kept(entry)
            written += len(drafts)
        return self.kinds

    def draft(self, act: str, author: Author, when: dt.datetime) -> Draft:
        if act in ("correction", "cancellation") and self.correctable:
            return self.correction(act == "cancellation")
        patient = self.rng.choice(self.patients)
        context = Context(self.now, ZONE, f"Patient/{patient}", author.role, f"Encounter/{self.stays[patient]}")
        local = when.astimezone(ZoneInfo(ZONE))
        if act == "administration":
            given = self.administration(author, local)
            if given is not None:
                self.kinds["administration"] += 1
                return given
        if act == "order":
            self.kinds["order"] += 1
            raw = {"type": "medication", "days": "5", **self.rng.choice(DRUGS), "requester": author.name}
            return order.from_form(raw, context)
        if act in ("note", "transmission"):
            self.kinds[act] += 1
            text = ", ".join(self.rng.sample(WORDS, 3)).capitalize() + "."
            if act == "transmission":
                resource = note.communication(self.rng.choice(list(note.SHIFTS)), text, local, context,
                                              f"{author.name} ({author.role})")
                return Draft(note.TRANSMISSION, context.patient, resource)
            kind = note.DEFAULT_TYPE[author.role]
            return Draft(note.NOTE, context.patient, note.document(kind, text, local, context, author.name))
        self.kinds["observation"] += 1
        return Draft(observation.KIND, context.patient, self.measure(local, context))

    def measure(self, when: dt.datetime, context: Context) -> dict:
        measure = self.rng.choice([m for m in MEASURES if m.key != "dia"])
        if measure.key == "sys":
            systolic = self.rng.randint(95, 160)
            return observation.blood_pressure(systolic, systolic - self.rng.randint(30, 60), when, context)
        low, high = measure.plausible
        value = self.rng.randint(int(low), int(high)) if measure.whole else round(self.rng.uniform(low, high), 1)
        if measure.key == "weight":
            value = round(self.rng.uniform(45, 110), 1)
        return observation.single(measure, value, when, context)

    def administration(self, author: Author, when: dt.datetime) -> Draft | None:
        """A dose of one of the patient's orders, the HIS's or one written here."""
        patient = self.rng.choice([p for p in self.patients if self.orders.get(p)] or [None])
        if patient is None:
            return None
        prescription = self.rng.choice(self.orders[patient])
        context = administration.AdministrationContext(
            now=self.now, zone=ZONE, patient=f"Patient/{patient}", role=author.role,
            encounter=f"Encounter/{self.stays[patient]}", author=author,
            orders={f"MedicationRequest/{prescription['id']}": prescription})
        dose = administration.prescribed_dose(prescription) or {}
        outcome = self.rng.choices(["given", "held", "refused", "unavailable"], weights=[88, 4, 4, 4])[0]
        raw = {"outcome": outcome, "time": when.strftime("%Y-%m-%dT%H:%M"), "request": prescription["id"],
               "dose": str(dose.get("value", "")), "unit": administration.unit_of(dose)}
        for attempt in (raw, {**raw, "outcome": "held", "dose": "", "unit": ""}):
            try:
                return administration.from_form(attempt, context)
            except Invalid:
                continue
        return None

    def correction(self, cancel: bool) -> Draft:
        """A later version of an entry written before: a value fixed, or entered in error."""
        old = self.correctable.pop(self.rng.randrange(len(self.correctable)))
        resource = copy.deepcopy(old.resource)
        if cancel:
            resource["status"] = "entered-in-error"
        elif resource["resourceType"] == "Observation":
            quantity = resource["valueQuantity"] if "valueQuantity" in resource else \
                resource["component"][0]["valueQuantity"]
            quantity["value"] = quantity["value"] + 1
        elif resource["resourceType"] == "DocumentReference":
            text = "Correction : " + ", ".join(self.rng.sample(WORDS, 2)) + "."
            resource["content"][0]["attachment"]["data"] = base64.b64encode(text.encode()).decode()
        elif resource["resourceType"] == "Communication":
            resource["payload"] = [{"contentString": "Correction : " + self.rng.choice(WORDS) + "."}]
        else:
            resource["note"] = [{"text": "Heure d'administration corrigée"}]
        self.kinds["cancellation" if cancel else "correction"] += 1
        return Draft(old.kind, old.patient, resource, supersedes=old.key,
                     reason="Saisie par erreur" if cancel else "Erreur de saisie")

    def kept(self, entry: Entry) -> None:
        if entry.kind == order.KIND:
            self.orders.setdefault(entry.patient.removeprefix("Patient/"), []).append(entry.resource)
        elif entry.kind in CORRECTABLE and entry.resource.get("status") != "entered-in-error":
            self.correctable.append(entry)


def make_station(work: Path, stays: dict[str, str], orders: dict[str, list[dict]], count: int) -> dict[str, Any]:
    """A station folder whose journal holds `count` entries about the HIS's inpatients."""
    identity, _ = create_station_identity(work / "keys", "bench")
    station = work / "station"
    init_station(station, identity, name="bench-way-back")
    started = time.perf_counter()
    kinds = Shifts(station, stays, orders, count).write()
    seconds = time.perf_counter() - started
    journal = Journal(station)
    entries = journal.db().execute("SELECT count(*) FROM entries").fetchone()[0]
    return {"station": str(station), "entries": entries, "by_act": dict(sorted(kinds.items())),
            "patients": len(stays), "patients_with_orders": sum(1 for p in stays if orders.get(p)),
            "append_s": round(seconds, 2),
            "journal_bytes": sum(p.stat().st_size for p in (station / "journal").glob("*.ndjson"))}


# --- reconcile's requests, recorded on the wire -------------------------------------------


class Recorder(ThreadingHTTPServer):
    """A proxy in front of the HIS that writes down every request and its answer's status."""

    daemon_threads = True

    def __init__(self, target: str, out: Path):
        super().__init__(("127.0.0.1", free_port()), Forward)
        self.base = f"http://127.0.0.1:{self.server_address[1]}"
        self.target = target
        self.client = httpx.Client(timeout=600)
        self.out = open(out, "wb")
        self.lock = threading.Lock()


class Forward(BaseHTTPRequestHandler):
    """One request: read it whole, pass it on (the proxy's address swapped for the HIS's
    in the body, the HIS's for the proxy's in the answer), note it, answer."""

    protocol_version = "HTTP/1.1"
    server: Recorder

    def do_GET(self) -> None:  # noqa: N802 (http.server's names)
        self.forward()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def forward(self) -> None:
        proxy, target = self.server.base.encode(), self.server.target.encode()
        body = self.body().replace(proxy, target)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        answer = self.server.client.request(self.command, self.server.target + self.path, content=body,
                                            headers=headers)
        content = answer.content.replace(target, proxy)
        with self.server.lock:
            self.server.out.write(orjson.dumps({
                "method": self.command, "path": self.path, "headers": headers, "status": answer.status_code,
                "body": body.decode(errors="replace"), "answer_bytes": len(answer.content)}) + b"\n")
        self.send_response(answer.status_code)
        for key, value in answer.headers.items():
            if key.lower() not in HOP and key.lower() not in ("date", "server"):
                self.send_header(key, value.replace(self.server.target, self.server.base))
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@contextlib.contextmanager
def recording(target: str, out: Path) -> Iterator[str]:
    """The proxy's base URL while it runs."""
    server = Recorder(target, out)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.base
    finally:
        server.shutdown()
        server.server_close()
        server.client.close()
        server.out.close()


def is_bundle(request: dict[str, Any]) -> bool:
    """A transaction or batch Bundle posted to the base (what reconcile files with)."""
    return request["method"] == "POST" and request["path"].split("?")[0].strip("/") == "" \
        and request["body"].lstrip().startswith("{")


def recorded(path: Path) -> dict[str, Any]:
    """What the recorded run sent: Bundles and their entries, and every other request."""
    requests = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    bundles = [orjson.loads(r["body"]) for r in requests if is_bundle(r)]
    sizes = [len(b.get("entry") or []) for b in bundles]
    methods: collections.Counter[str] = collections.Counter()
    for bundle in bundles:
        for entry in bundle.get("entry") or []:
            request = entry.get("request", {})
            conditional = "?" in request.get("url", "") or "ifNoneExist" in request
            methods[f"{request.get('method')}{' conditional' if conditional else ''}"] += 1
    others = collections.Counter(f"{r['method']} {r['path'].split('?')[0].strip('/').split('/')[0] or '/'}"
                                 for r in requests if not is_bundle(r))
    statuses = collections.Counter(str(r["status"]) for r in requests if is_bundle(r))
    return {"requests": len(requests), "bundles": len(bundles), "bundle_entries": sum(sizes),
            "largest_bundle": max(sizes, default=0), "bundle_statuses": dict(statuses),
            "entry_requests": dict(methods), "other_requests": dict(others),
            "bundle_bytes": sum(len(r["body"]) for r in requests if is_bundle(r))}


def bare_post_main(argv: list[str]) -> None:
    """The bare client: the recorded Bundles posted one after the other, each answer parsed."""
    parser = argparse.ArgumentParser(prog="way_back.py bare-post")
    parser.add_argument("--base", required=True)
    parser.add_argument("--recorded", type=Path, required=True, help="the proxy's record")
    parser.add_argument("--recorded-base", required=True, help="the HIS the record was made on")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    requests = [orjson.loads(line) for line in args.recorded.read_bytes().splitlines()]
    bundles = [(r["headers"], r["body"].replace(args.recorded_base, args.base).encode())
               for r in requests if is_bundle(r)]
    statuses: collections.Counter[str] = collections.Counter()
    answered = 0
    started = time.perf_counter()
    with httpx.Client(timeout=600) as client:
        for headers, body in bundles:
            answer = client.post(args.base + "/", content=body, headers=headers)
            statuses[str(answer.status_code)] += 1
            answered += len(orjson.loads(answer.content).get("entry") or [])
    args.out.write_text(json.dumps({"bundles": len(bundles), "answered_entries": answered,
                                    "statuses": dict(statuses),
                                    "posting_s": round(time.perf_counter() - started, 3)}))


# --- verify's floor: paging every type -----------------------------------------------------


def bare_page_main(argv: list[str]) -> None:
    """The bare client: every searchable type paged through, each page parsed, then dropped."""
    parser = argparse.ArgumentParser(prog="way_back.py bare-page")
    parser.add_argument("--base", required=True)
    parser.add_argument("--count", type=int, default=PAGE_SIZE)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    pages_read = size_read = resources_read = 0
    with httpx.Client(headers={"Accept": FHIR_JSON}, timeout=300) as client:
        types = searchable_types(args.base)
        for rtype in types:
            for bundle, size in pages(client, f"{args.base}/{rtype}", {"_count": args.count}):
                pages_read, size_read = pages_read + 1, size_read + size
                resources_read += len(bundle.get("entry") or [])
    args.out.write_text(json.dumps({"types": len(types), "pages": pages_read, "bytes": size_read,
                                    "resources": resources_read}))


# --- the two measures ------------------------------------------------------------------------


def bench_reconcile(exe: str, hospital: dict[str, Any], work: Path, count: int, repeat: int) -> dict[str, Any]:
    record = work / "recorded.ndjson"
    with fresh_his(exe, hospital, work, "his-record") as his:
        log("reading the HIS's inpatients and their orders")
        stays, orders = inpatients(his.base)
        log(f"writing {count:,} entries into a station's journal")
        made = make_station(work, stays, orders, count)
        log("untimed reconcile of a copy of the station, through the recording proxy")
        station = work / "station-record"
        shutil.copytree(made["station"], station)
        with recording(his.base, record) as proxy:
            first = subprocess.run([exe, "journal", "reconcile", "--station", str(station), "--fhir", proxy],
                                   capture_output=True, env=installed_env())
        if first.returncode != 0:
            raise SystemExit(f"the recorded reconcile failed ({first.returncode}):\n"
                             f"{first.stdout.decode(errors='replace')[-3000:]}\n"
                             f"{first.stderr.decode(errors='replace')[-3000:]}")
        recorded_base = his.base
    bare_post = [sys.executable, str(Path(__file__).resolve()), "bare-post", "--recorded", str(record),
                 "--recorded-base", recorded_base, "--out", str(work / "bare-post.json")]
    runs = []
    for number in range(repeat):
        station = work / f"station-{number}"
        shutil.copytree(made["station"], station)
        journal_files = sorted((station / "journal").glob("*.ndjson"))
        run: dict[str, Any] = {"order": "reconcile first" if number % 2 == 0 else "bare first"}
        for who in ("reconcile", "bare") if number % 2 == 0 else ("bare", "reconcile"):
            with fresh_his(exe, hospital, work, f"his-{who}") as his:
                if who == "reconcile":
                    timed = run_timed("reconcile", [exe, "journal", "reconcile", "--station", str(station),
                                                    "--fhir", his.base], his, journal_files)
                    run["fates"] = Fates(station).counts()
                else:
                    timed = run_timed("bare transactions", [*bare_post, "--base", his.base], his, [record])
                    timed.detail = json.loads((work / "bare-post.json").read_text())
            run[who] = timed.to_json()
        runs.append(run)
    fates = runs[-1]["fates"]
    reconcile_s, bare_s = median_of(runs, "reconcile"), median_of(runs, "bare")
    sent = recorded(record)
    return {"machine": machine(), "code": code_stamp(), "hospital": summary_of(hospital), "arguments": sys.argv[1:],
            "journal": made, "sent": sent, "fates": fates, "recorded_fates": Fates(work / "station-record").counts(),
            "same_fates": all(r["fates"] == fates for r in runs), "runs": runs,
            "done": sum(n for state, n in fates.items() if state in DONE),
            "reconcile_s": reconcile_s, "bare_s": bare_s, "ratio": bare_s / reconcile_s,
            "reconcile_per_s": made["entries"] / reconcile_s, "bare_per_s": sent["bundle_entries"] / bare_s}


def bench_verify(exe: str, hospital: dict[str, Any], work: Path, count: int, repeat: int) -> dict[str, Any]:
    bare_page = [sys.executable, str(Path(__file__).resolve()), "bare-page", "--count", str(count)]
    report = work / "report" / "verify.json"
    report.parent.mkdir(parents=True)
    runs = []
    with fresh_his(exe, hospital, work, "his-verify") as his:
        log("an untimed bare walk first, so that neither run pays for the server's cold caches")
        subprocess.run([*bare_page, "--base", his.base, "--out", str(work / "warm.json")], check=True,
                       env=installed_env())
        segments = sorted(Path(hospital["vault"]).rglob("*.age"))
        for number in range(repeat):
            run: dict[str, Any] = {"order": "verify first" if number % 2 == 0 else "bare first"}
            for who in ("verify", "bare") if number % 2 == 0 else ("bare", "verify"):
                if who == "verify":
                    timed = run_timed("verify", [exe, "verify", "--vault", hospital["vault"], "--identity",
                                                 hospital["identity"], "--fhir", his.base, "--out", str(report)],
                                      his, segments)
                else:
                    timed = run_timed("bare paging", [*bare_page, "--base", his.base,
                                                      "--out", str(work / "bare-page.json")], his, [])
                    timed.detail = json.loads((work / "bare-page.json").read_text())
                run[who] = timed.to_json()
            runs.append(run)
        # beside the floor, what the transfer alone costs: capture's bare client reads only
        # each page's head (for `next`), the resources left unparsed
        transfer = run_timed("bare transfer", [sys.executable, str(Path(__file__).resolve().parent / "capture.py"),
                                                "bare", "--base", his.base, "--out", str(work / "transfer.json")],
                             his, [])
        transfer.detail = json.loads((work / "transfer.json").read_text())
    said = json.loads(report.read_text()) if report.exists() else {}
    verify_s, bare_s = median_of(runs, "verify"), median_of(runs, "bare")
    return {"machine": machine(), "code": code_stamp(), "hospital": summary_of(hospital), "arguments": sys.argv[1:],
            "count": count,
            "runs": runs, "transfer": transfer.to_json(), "verify_s": verify_s, "bare_s": bare_s,
            "ratio": verify_s / bare_s,
            "peak_rss_kb": max(r["verify"]["max_rss_kb"] for r in runs),
            "peak_tree_rss_kb": max(r["verify"]["tree_rss_kb"] or 0 for r in runs),
            "report": {k: v for k, v in said.items() if len(json.dumps(v)) < 20_000},
            "report_bytes": {p.name: p.stat().st_size for p in sorted(report.parent.iterdir())}}


def median_of(runs: list[dict[str, Any]], who: str) -> float:
    return statistics.median(r[who]["seconds"] for r in runs)


def busy(runs: list[dict[str, Any]], who: str) -> float:
    """CPU seconds of the client and the HIS together, the median over the repeats."""
    return statistics.median(r[who]["cpu_seconds"] + r[who]["server_cpu_seconds"] for r in runs)


def summary_of(hospital: dict[str, Any]) -> dict[str, Any]:
    return {k: hospital[k] for k in ("beds", "patients", "resources", "by_type", "db_bytes", "vault_bytes",
                                     "load_s", "capture_s")}


# --- the report ------------------------------------------------------------------------------


def met(ok: bool) -> str:
    return "met" if ok else "**NOT met**"


def preamble(r: dict[str, Any], repeats: int) -> list[str]:
    m, code, h = r["machine"], r["code"], r["hospital"]
    lines = [f"Generated by `{' '.join(['bench/way_back.py', *r['arguments']])}` on {m['date']}; {repeats} repeat(s), "
             "median shown (peak RSS: the largest).", ""]
    if h["beds"] != 1000:
        lines += [f"> **Measured at {h['beds']} beds, not the 1,000 the issue asks for.**", ""]
    return lines + [
        f"- Relève: commit {code['head'][:12]} (src sha256 {code['src_sha256'][:12]}"
        f"{', src modified' if code['src_dirty'] else ''}).",
        f"- Machine: {m['cpu']}, {m['nproc']} cores, {m['memory_gb']} GB RAM, Linux {m['kernel']}, "
        f"Python {m['python']}, httpx {m['httpx']}; shared: \"other CPU\" is what the rest of the "
        "machine used during a timed run. The HIS, the command and the bare client share the 2 cores.",
        f"- Hospital: the demo HIS, seed {SEED}, {h['beds']:,} beds, {h['patients']:,} patients, "
        f"{h['resources']:,} resources (SQLite {h['db_bytes'] / 1e6:,.0f} MB, copied fresh for each "
        f"HIS below); its vault captured once ({h['vault_bytes'] / 1e6:,.0f} MB).",
    ]


def timed_row(label: str, runs: list[dict[str, Any]], who: str, work: str) -> str:
    """One command's line: median wall and CPU seconds over the repeats, largest peak RSS."""
    def median(key: str) -> float:
        return statistics.median(r[who][key] for r in runs)

    return (f"| {label} | {median('seconds'):.2f} | {work} | {median('cpu_seconds'):.1f} | "
            f"{median('server_cpu_seconds'):.1f} | {median('other_cpu_seconds'):.1f} | "
            f"{max(r[who]['max_rss_kb'] for r in runs) / 1024:,.0f} MiB |")


def per_repeat(runs: list[dict[str, Any]], first: str, second: str) -> list[str]:
    if len(runs) < 2:
        return []
    return ["", "Per repeat (wall seconds, and in brackets client CPU / HIS CPU / other CPU), median above:", "",
            *[f"- repeat {n} ({r['order']}): " + "; ".join(
                f"{who} {r[who]['seconds']:.2f} [{r[who]['cpu_seconds']:.1f} / {r[who]['server_cpu_seconds']:.1f}"
                f" / {r[who]['other_cpu_seconds']:.1f}]" for who in (first, second))
              for n, r in enumerate(runs, 1)]]


TABLE = ["| run | seconds | work | client CPU s | HIS CPU s | other CPU s | peak RSS |",
         "| --- | ---: | --- | ---: | ---: | ---: | ---: |"]


def render_reconcile(r: dict[str, Any]) -> str:
    j, sent, runs = r["journal"], r["sent"], r["runs"]
    acts = ", ".join(f"{n:,} {act}" for act, n in j["by_act"].items())
    entry_requests = ", ".join(f"{n:,} {m}" for m, n in sorted(sent["entry_requests"].items()))
    others = ", ".join(f"{n:,} {m}" for m, n in sorted(sent["other_requests"].items())) or "none"
    fates = ", ".join(f"{n:,} {state}" for state, n in sorted(r["fates"].items())) or "none recorded"
    same = r["same_fates"] and r["fates"] == r["recorded_fates"]
    posting = statistics.median(x["bare"]["detail"]["posting_s"] for x in runs)
    ratio = r["ratio"]
    return "\n".join([
        "## Reconcile", "",
        *preamble(r, len(runs)),
        f"- Station: one journal of **{j['entries']:,} entries** ({acts}) about the HIS's "
        f"{j['patients']:,} inpatients ({j['patients_with_orders']:,} with active orders), written by "
        f"`Journal.append` in batches of {BATCH} ({j['append_s']:.1f} s, {j['journal_bytes'] / 1e6:,.1f} MB). "
        "Administrations answer the HIS's orders or those written here; corrections and cancellations "
        "supersede entries written before them, some of them corrections already.",
        "- The same Bundles, captured on the wire: an untimed `releve journal reconcile` of a copy of the "
        "station ran through a recording proxy into its own fresh HIS; the bare client (a process of "
        "its own, httpx) posts every transaction Bundle recorded, in order, with the same headers, to "
        "another fresh HIS and parses each answer: no planning, no fates. The timed reconcile runs "
        "straight against a fresh HIS of its own, on a fresh copy of the station.",
        f"- What reconcile sent: {sent['bundles']:,} Bundles, {sent['bundle_entries']:,} entries "
        f"({entry_requests}), {sent['bundle_bytes'] / 1e6:,.1f} MB, at most {sent['largest_bundle']} a "
        f"Bundle, answered {json.dumps(sent['bundle_statuses'])}; other requests: {others}.",
        "",
        *TABLE,
        timed_row("`releve journal reconcile`", runs, "reconcile",
                  f"{j['entries']:,} journal entries, {r['reconcile_per_s']:,.0f}/s"),
        timed_row("bare: the same Bundles posted", runs, "bare",
                  f"{sent['bundle_entries']:,} Bundle entries, {r['bare_per_s']:,.0f}/s "
                  f"(the posting loop alone {posting:.2f} s)"),
        *per_repeat(runs, "reconcile", "bare"),
        "",
        f"- Fates after the timed run: {fates}; {r['done']:,} of {j['entries']:,} entries done. The "
        f"recorded run and every repeat left {'the same' if same else 'DIFFERENT'} counts"
        f"{'' if same else ' (recorded: ' + json.dumps(r['recorded_fates']) + ')'}.",
        f"- **Reconcile / bare: {ratio:.2f}x** the bare rate (bare seconds over reconcile seconds; "
        f"target at least {TARGETS['reconcile_over_bare_at_least']}x): "
        f"{met(ratio >= TARGETS['reconcile_over_bare_at_least'])}.",
        f"- In CPU seconds (client and HIS, medians): reconcile {busy(runs, 'reconcile'):.1f}, bare "
        f"{busy(runs, 'bare'):.1f}, {busy(runs, 'bare') / busy(runs, 'reconcile'):.2f}x: both send one "
        "request at a time and wait for its answer, so on a machine nobody else used this is about "
        "what the wall-clock ratio would be.",
        "- Times are whole processes, Python start-up included: reconcile reads the journal, plans, "
        "files wave after wave, and commits each Bundle's fates before the Bundle after the next "
        "one is sent.",
        ""])


def render_verify(r: dict[str, Any]) -> str:
    runs, h, t = r["runs"], r["hospital"], r["transfer"]
    bare = runs[-1]["bare"]["detail"]
    rss_mb = r["peak_rss_kb"] / 1024
    ratio = r["ratio"]
    said = r["report"]
    totals: collections.Counter[str] = collections.Counter()
    types = said.get("types")
    for counts in types.values() if isinstance(types, dict) else []:
        totals.update({k: v for k, v in counts.items() if isinstance(v, int)} if isinstance(counts, dict) else {})
    told = f"verdict {said.get('verdict', '?')}; over every type: " + (
        ", ".join(f"{n:,} {k}" for k, n in totals.items()) or "no counts")
    return "\n".join([
        "## Verify", "",
        *preamble(r, len(runs)),
        "- `releve verify --vault V --identity K --fhir URL --out R.json` (its JSON, HTML and PDF "
        "reports written) against a fresh HIS, the one the vault was captured from; bare: a process "
        "of its own (httpx) paging every searchable type the CapabilityStatement declares with "
        f"`_count={r['count']}`, following `next`, parsing each page with orjson and dropping it. An "
        "untimed bare walk first warms the server.",
        "",
        *TABLE,
        timed_row("`releve verify`", runs, "verify",
                  f"{h['resources']:,} resources, {h['resources'] / r['verify_s']:,.0f}/s"),
        timed_row("bare paging", runs, "bare",
                  f"{bare['resources']:,} resources, {bare['pages']:,} pages, {bare['bytes'] / 1e6:,.0f} MB"),
        *per_repeat(runs, "verify", "bare"),
        "",
        f"- Beside the floor, the transfer alone (capture's bare client: the same pages, only each "
        f"one's head parsed for `next`): {t['seconds']:.2f} s, {t['cpu_seconds']:.1f} client CPU s, "
        f"{t['server_cpu_seconds']:.1f} HIS CPU s, {t['other_cpu_seconds']:.1f} other CPU s; verify / "
        f"transfer: {r['verify_s'] / t['seconds']:.2f}x.",
        f"- **Verify / bare: {ratio:.2f}x** (target at most {TARGETS['verify_over_bare_at_most']}x): "
        f"{met(ratio <= TARGETS['verify_over_bare_at_most'])}.",
        f"- **Peak RSS of verify: {rss_mb:,.0f} MiB** (GNU time: its largest process; summed over its "
        f"process tree, sampled: {r['peak_tree_rss_kb'] / 1024:,.0f} MiB); target well under 1 GB: "
        f"{met(rss_mb < TARGETS['verify_rss_mb_under'])}.",
        f"- Verify exited 0 (nothing missing nor changed); its report says {told}.",
        ""])


# --- main --------------------------------------------------------------------------------------


def main() -> None:
    internal = {"bare-post": bare_post_main, "bare-page": bare_page_main}
    if sys.argv[1:2] and sys.argv[1] in internal:
        internal[sys.argv[1]](sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/releve-bench-wayback"),
                        help="the cached hospital and the run's folders (outside the repository)")
    parser.add_argument("--beds", type=int, default=1000, help="the hospital's size (100 for a quick check)")
    parser.add_argument("--entries", type=int, default=10_000, help="journal entries to reconcile")
    parser.add_argument("--count", type=int, default=PAGE_SIZE, help="_count of the bare paging (verify's)")
    parser.add_argument("--repeat", type=int, default=1, help="timed pairs, alternating which goes first")
    parser.add_argument("--only", choices=("reconcile", "verify"), help="run one section only")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    workdir = scratch(args.workdir, REPO_ROOT)
    # every `releve` this starts runs this tree's code, installed or not
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH")]))
    exe = releve_executable()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO_ROOT / "src" / "releve")],
                   env=installed_env(), check=True)  # bytecode cached, as an installed package's
    hospital = ensure_hospital(exe, workdir, args.beds)
    warm_page_cache([Path(hospital["db"])])
    run_dir = workdir / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    figures = args.results / "way-back.json"
    result = json.loads(figures.read_text()) if figures.exists() else {}
    try:
        if args.only != "verify":
            work = run_dir / "reconcile"
            work.mkdir(parents=True)
            result["reconcile"] = bench_reconcile(exe, hospital, work, args.entries, args.repeat)
            write_section(args.results, "way_back", TITLE, "way-back", result, render_reconcile(result["reconcile"]))
        if args.only != "reconcile":
            work = run_dir / "verify"
            work.mkdir(parents=True)
            result["verify"] = bench_verify(exe, hospital, work, args.count, args.repeat)
            write_section(args.results, "way_back", TITLE, "way-back", result, render_verify(result["verify"]))
    finally:
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
