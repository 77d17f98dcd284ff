"""`releve journal reconcile` killed with SIGKILL at random moments, then run again: every
resource of the journal ends in the HIS exactly once, and the fates are complete.

A ward's journal (tests/test_reconcile.py's builders) filed into the demo HIS (a real
subprocess) through a server in front of it that sees each transaction go by. Thirty runs
are each killed at a moment a seeded generator picks: in the first half second (before
any Bundle, or just after the first), while the HIS holds the k-th Bundle committed and
its answer is kept from the client (the next run must find what the killed one filed),
or just after the k-th answer. Whenever the kills let the journal be filed whole, a
complete run is checked and a batch of about 75 entries is added (corrections of
earlier batches' notes among them: conditional updates and history Provenances under the
kills too), so the journal ends with 300 to 500 entries, and a last complete run
is checked with its report. A second test files through a HIS that commits every
second write then answers 500 (`commit_then_fail_every`).
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from releve.journal.book import current
from releve.journal.entry import IDENTIFIER_SYSTEM, Draft, Entry
from releve.journal.fates import DONE, Fates
from releve.journal.index import since
from releve.wayback.plan import history_identifier
from test_demo_his import start_his
from test_reconcile import (
    NURSE,
    VAULT_PATIENT,
    VAULT_STAY,
    Ward,
    admit,
    decide,
    found,
    make_ward,
    note,
    observation,
    reconcile,
    vault_resources,
)

from conftest import RELEVE, run_releve
from helpers import serving, wait_until

pytestmark = pytest.mark.slow

SEED = 18
TRIALS = 30
UNITS_PER_BATCH = 10  # 7 entries each, and corrections: about 75 entries a batch
FHIR = "application/fhir+json"
TYPES = ("Patient", "Encounter", "MedicationRequest", "MedicationAdministration",
         "Observation", "DocumentReference", "Provenance")


@pytest.fixture
def faulty_his(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The demo HIS holding the vault's patient and stay, its write faults in a file."""
    held = tmp_path / "held.ndjson"
    held.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in vault_resources()))
    faults = tmp_path / "faults.json"
    server, base = start_his("--load", held, "--write-faults", faults)
    try:
        yield base, faults
    finally:
        server.stop()


def add_batch(ward: Ward, batch: int) -> None:
    """About a hundred more entries: downtime admissions (decided: create) with a stay and
    a measure, orders with their check and administration, notes; from the second batch
    on, corrections of notes an earlier batch recorded."""
    journal = ward.journal
    for unit in range(UNITS_PER_BATCH):
        patient, stay = admit(journal, f"Lot{batch}x{unit}", f"9{batch:02d}{unit:03d}")
        decide(ward, patient)
        downtime = f"Patient/{patient.resource['id']}"
        journal.append([Draft("observation", downtime, observation(
            downtime, 36 + unit / 10, f"Encounter/{stay.resource['id']}"))], NURSE)
        (order,) = journal.append([Draft("order", VAULT_PATIENT, {
            "resourceType": "MedicationRequest", "status": "active", "intent": "order",
            "medicationCodeableConcept": {"text": f"Produit {batch}-{unit}"},
            "subject": {"reference": VAULT_PATIENT}, "encounter": {"reference": VAULT_STAY},
            "authoredOn": "2026-01-14T09:00:00+01:00"})], NURSE)
        ref = f"MedicationRequest/{order.resource['id']}"
        journal.append([Draft("order-check", VAULT_PATIENT, {
            "resourceType": "Provenance", "target": [{"reference": ref}],
            "recorded": "2026-01-14T09:05:00+01:00", "agent": [{"who": {"display": "Paul"}}],
            "entity": [{"role": "source", "what": {"reference": ref}}]})], NURSE)
        journal.append([Draft("administration", VAULT_PATIENT, {
            "resourceType": "MedicationAdministration", "status": "completed",
            "medicationCodeableConcept": {"text": f"Produit {batch}-{unit}"},
            "subject": {"reference": VAULT_PATIENT}, "context": {"reference": VAULT_STAY},
            "request": {"reference": ref}, "effectiveDateTime": "2026-01-14T10:00:00+01:00"})],
            NURSE)
        journal.append([Draft("note", VAULT_PATIENT, note(VAULT_PATIENT, f"note {batch}-{unit}"))],
                       NURSE)
    if batch > 1:
        earlier = [e for e in entries(ward) if e.kind == "note"
                   and e.resource["content"][0]["attachment"]["title"].startswith(f"note {batch - 1}-")]
        for old in earlier[:5]:
            journal.append([Draft("note", VAULT_PATIENT, note(VAULT_PATIENT, f"relu {old.key}"),
                                  supersedes=old.key, reason="relecture")], NURSE)


def entries(ward: Ward) -> list[Entry]:
    return list(since(ward.journal.db()))


def expected(ward: Ward) -> dict[tuple[str, str], str]:
    """(type, journal identifier) -> entry key of every resource the HIS must hold once:
    each resource's current version, and one Provenance per replaced version."""
    held: dict[tuple[str, str], str] = {}
    chains: dict[str, list[Entry]] = {}
    for entry in entries(ward):
        chains.setdefault(entry.identifier, []).append(entry)
    for identifier, chain in chains.items():
        (head,) = current(chain)
        held[(head.resource["resourceType"], identifier)] = head.key
        for entry in chain:
            if entry is not head:
                held[("Provenance", history_identifier(entry.key))] = entry.key
    return held


def held(base: str) -> dict[str, list[dict]]:
    """Every resource the HIS serves, by type (one page each: this HIS serves 5,000)."""
    result = {}
    for rtype in TYPES:
        page = httpx.get(f"{base}/{rtype}", params={"_count": "5000"}, timeout=60).json()
        assert not [link for link in page["link"] if link["relation"] == "next"]
        result[rtype] = [entry["resource"] for entry in page.get("entry", [])]
    return result


def check_complete(ward: Ward, base: str, rng: random.Random, report: dict | None = None) -> None:
    """Every resource once in the HIS (a seeded sample also searched by its journal
    identifier), per type as many as the journal made, every entry done in the fates
    (and the report, when given) with the HIS's id of what it filed."""
    want = expected(ward)
    keys = {e.key for e in entries(ward)}
    fates = Fates(ward.dir)
    try:
        stored, filed = fates.fates(), fates.filed()
    finally:
        fates.close()
    assert stored.keys() == keys
    assert {f.state for f in stored.values()} <= DONE, Counter(f.state for f in stored.values())
    if report is not None:
        assert {row["entry"]: (row["state"], row["his"]) for row in report["entries"]} == \
            {key: (f.state, f.his) for key, f in stored.items()}
    his = held(base)
    vault = Counter(r["resourceType"] for r in vault_resources())
    per_type = Counter(rtype for rtype, _ in want)
    per_type["Encounter"] -= 1  # the transfer of the vault's stay: an update, no new one
    assert {t: len(his[t]) for t in TYPES} == {t: per_type[t] + vault[t] for t in TYPES}
    ids: dict[tuple[str, str], list[str]] = {}
    for rtype, resources in his.items():
        for resource in resources:
            for identifier in resource.get("identifier", []):
                if identifier.get("system") == IDENTIFIER_SYSTEM:
                    ids.setdefault((rtype, identifier["value"]), []).append(resource["id"])
    assert {key: len(ids.get(key, [])) for key in want} == dict.fromkeys(want, 1)
    for (rtype, identifier), key in want.items():
        where = f"{rtype}/{ids[(rtype, identifier)][0]}"
        assert filed[identifier][0] == where
        if identifier != history_identifier(key):  # a replaced version's fate: its Provenance's
            assert stored[key].his == where, key
    for rtype, identifier in rng.sample(sorted(want), 25):
        assert [f"{rtype}/{r['id']}" for r in found(base, rtype, identifier)] == \
            [filed[identifier][0]]


class Watch:
    """A server in front of the HIS that sees each transaction go by: how many were
    answered, and, when told, holds the `hold_at`-th one once the HIS has committed it,
    its answer kept from the client until the test has killed it."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.lock = threading.Lock()
        self.reset(None)

    def reset(self, hold_at: int | None) -> None:
        with self.lock:
            self.sent = self.answered = 0
            self.hold_at, self.held, self.released = hold_at, threading.Event(), False

    def app(self):
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import Response
        from starlette.routing import Route

        async def forward(request: Request) -> Response:
            transaction = request.method == "POST" and request.url.path == "/"
            if transaction:
                with self.lock:
                    self.sent += 1
                    number = self.sent
            query = f"?{request.url.query}" if request.url.query else ""
            async with httpx.AsyncClient(timeout=60) as client:
                answer = await client.request(
                    request.method, self.upstream + request.url.path + query,
                    content=await request.body(),
                    headers={"Content-Type": request.headers.get("content-type", FHIR)})
            if transaction and number == self.hold_at:
                self.held.set()
                while not self.released:  # the client is killed meanwhile
                    await asyncio.sleep(0.01)
            elif transaction:
                with self.lock:
                    self.answered = max(self.answered, number)
            return Response(answer.content, answer.status_code, media_type=FHIR)

        return Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST", "PUT"])])


def killed_run(ward: Ward, watch: Watch, front: str, rng: random.Random) -> str:
    """`releve journal reconcile` through `front`, sent SIGKILL at a moment the seeded
    `rng` picks: in its first half second, while the HIS holds the k-th Bundle committed
    and unanswered, or just after the k-th answer (k from 1 to 3). Where it fell."""
    moment, k = rng.choice(("start", "during", "after")), rng.randint(1, 3)
    watch.reset(k if moment == "during" else None)
    process = subprocess.Popen([*RELEVE, "journal", "reconcile", "--station", str(ward.dir),
                                "--fhir", front], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        if moment == "start":
            time.sleep(rng.uniform(0, 0.5))
        else:
            wait_until(f"the reconcile's Bundle {k}", lambda: process.poll() is not None or (
                watch.held.is_set() if moment == "during" else watch.answered >= k), 60, 0.005)
            time.sleep(rng.uniform(0, 0.05) if moment == "after" else 0)
        ended = process.poll() is not None
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        watch.released = True
    if ended:
        return "ran to its end"
    if watch.held.is_set():
        return "while the HIS held a committed Bundle"
    return "between answers" if watch.sent else "before any Bundle"


def recorded(ward: Ward) -> int:
    """How many entries the fates say are done."""
    fates = Fates(ward.dir)
    try:
        return sum(1 for f in fates.fates().values() if f.done)
    finally:
        fates.close()


def test_kill_9_during_reconcile_then_again_files_each_resource_once(faulty_his, tmp_path):
    """30 kills; whenever the kills let a run finish what the journal holds, a complete
    run is checked and a batch of entries is added."""
    base, _ = faulty_his
    ward = make_ward(tmp_path / "station")
    decide(ward, ward.e["patient"])
    rng = random.Random(SEED)
    landed: Counter[str] = Counter()
    batch, started = 1, time.monotonic()
    add_batch(ward, batch)
    watch = Watch(base)
    with serving(watch.app()) as front:
        for _ in range(TRIALS):
            if recorded(ward) == len(entries(ward)):
                run_releve("journal", "reconcile", "--station", ward.dir, "--fhir", base)
                check_complete(ward, base, rng)
                batch += 1
                add_batch(ward, batch)
            landed[killed_run(ward, watch, front, rng)] += 1
    check_complete(ward, base, rng, reconcile(ward, base))
    print(f"\n{TRIALS} kills, {len(entries(ward))} entries in {batch} batches: {dict(landed)}, "
          f"{time.monotonic() - started:.1f} s")
    assert len(entries(ward)) >= 250 and batch >= 3  # how many: as the kills fell
    assert landed["before any Bundle"] and landed["between answers"] and \
        landed["while the HIS held a committed Bundle"] >= 3, landed


def test_a_his_that_commits_then_fails_files_nothing_twice(faulty_his, tmp_path):
    """Every second write is committed, then answered 500: the client sends it again,
    and the conditional writes find what the first one filed."""
    base, faults = faulty_his
    faults.write_text(orjson.dumps({"commit_then_fail_every": 2}).decode())
    ward = make_ward(tmp_path / "station")
    decide(ward, ward.e["patient"])
    add_batch(ward, 1)
    add_batch(ward, 2)
    report = reconcile(ward, base)
    check_complete(ward, base, random.Random(SEED), report)
    assert report["counts"].get("already", 0) > 0  # what the 500s hid was found, not re-filed
