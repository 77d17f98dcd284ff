"""Bulk Data `$export` (HL7 FHIR Bulk Data Access IG), system level.

Kick-off (GET or POST `[base]/$export`, `Prefer: respond-async`) starts a job in a thread
and answers 202 with the status URL in Content-Location. The job reads one SQLite
snapshot: its transactionTime is the newest lastUpdated in that snapshot, nothing newer
is exported, and `_since` keeps what changed strictly after the given instant, so a
client that passes the previous transactionTime as `_since` misses nothing. With
`_since`, resources deleted since then are listed as transaction Bundles of DELETE
entries in `deleted`. DELETE on the status URL cancels the job and removes its files.
The faults of bulk_faults.py (error files, transient 500s, 429 and 503 with Retry-After,
slow jobs) are served on demand.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from .bulk_faults import NO_FAULTS, BulkFaults, PollFaults
from .fhir import RESOURCE_TYPES, HisRequestError, date_range, format_lu
from .store import Store

OUTPUT_FORMATS = {"application/fhir+ndjson", "application/ndjson", "ndjson"}
KICKOFF_PARAMS = {"_type", "_since", "_outputFormat"}
DELETES_PER_BUNDLE = 100


@dataclass
class Job:
    id: str
    request: str
    types: list[str] | None
    since: int | None
    directory: Path
    state: str = "running"  # running, done, failed
    progress: str = "starting"
    manifest: dict[str, Any] | None = None
    error: str | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    faults: PollFaults = field(default_factory=lambda: PollFaults(BulkFaults()))


def kickoff_params(query: dict[str, list[str]], body: Any) -> tuple[list[str] | None, int | None]:
    """(`_type` list or None for all, `_since` in microseconds or None) from the query
    string or a POSTed Parameters resource; anything unsupported is refused."""
    params = {key: list(values) for key, values in query.items()}
    if isinstance(body, dict):
        if body.get("resourceType") != "Parameters":
            raise HisRequestError(400, "a POST kick-off carries a Parameters resource")
        for parameter in body.get("parameter") or []:
            name = parameter.get("name") if isinstance(parameter, dict) else None
            value = next((v for k, v in parameter.items() if k.startswith("value")), None) \
                if isinstance(parameter, dict) else None
            if not isinstance(name, str) or not isinstance(value, str):
                raise HisRequestError(400, "each Parameters.parameter needs a name and a string value")
            params.setdefault(name, []).append(value)
    unknown = sorted(set(params) - KICKOFF_PARAMS - {"_format"})
    if unknown:
        raise HisRequestError(400, f"$export parameter {unknown[0]!r} is not supported "
                             "(_type, _since and _outputFormat are)", "not-supported")
    for output_format in params.get("_outputFormat", []):
        if output_format not in OUTPUT_FORMATS:
            raise HisRequestError(400, f"_outputFormat {output_format!r} is not supported "
                                 "(application/fhir+ndjson is)", "not-supported")
    types = None
    if "_type" in params:
        types = [t.strip() for value in params["_type"] for t in value.split(",") if t.strip()]
        for rtype in types:
            if rtype not in RESOURCE_TYPES:
                raise HisRequestError(400, f"_type: unknown resource type {rtype[:80]!r}")
        types = sorted(set(types))
    since = None
    if "_since" in params:
        if len(params["_since"]) != 1:
            raise HisRequestError(400, "_since is given more than once")
        since = date_range(params["_since"][0])[0]
    return types, since


class Exports:
    """The export jobs of one server, their files under `directory`."""

    def __init__(self, store: Store, directory: Path, requires_token: bool = False,
                 file_lines: int = 100_000, faults: BulkFaults = NO_FAULTS):
        self.store = store
        self.faults = faults
        self.started = 0  # exports kicked off since the server started
        self.directory = Path(directory)
        self.requires_token = requires_token
        self.file_lines = file_lines
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, request_url: str, base: str, types: list[str] | None, since: int | None) -> Job:
        job_id = uuid.uuid4().hex
        job = Job(job_id, request_url, types, since, self.directory / job_id)
        job.directory.mkdir(parents=True)
        with self._lock:
            self.jobs[job_id] = job
            self.started += 1
            if self.faults.exports is None or self.started <= self.faults.exports:
                job.faults = PollFaults(self.faults)
        threading.Thread(target=self._run, args=(job, base), name=f"export-{job_id[:8]}",
                         daemon=True).start()
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self.jobs.get(job_id)
        if job is None:
            raise HisRequestError(404, f"no export job {job_id[:40]!r} (finished and deleted, or never "
                                 "started)", "not-found")
        return job

    def cancel(self, job_id: str) -> None:
        job = self.get(job_id)
        job.cancelled.set()
        with self._lock:
            self.jobs.pop(job_id, None)
        if job.state != "running":  # a running job removes its own files when it stops
            shutil.rmtree(job.directory, ignore_errors=True)

    def file(self, job_id: str, name: str) -> Path:
        job = self.get(job_id)
        path = job.directory / name
        if job.state != "done" or "/" in name or name.startswith(".") or not path.is_file():
            raise HisRequestError(404, f"no file {name[:80]!r} in export {job_id[:40]}", "not-found")
        return path

    def close(self) -> None:
        with self._lock:
            jobs, self.jobs = list(self.jobs.values()), {}
        for job in jobs:
            job.cancelled.set()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, job: Job, base: str) -> None:
        try:
            job.manifest = self._export(job, base)
            job.state = "done"
        except Exception as exc:  # the status URL reports it as an OperationOutcome
            job.error = f"export failed: {exc}"
            job.state = "failed"
        if job.cancelled.is_set():
            shutil.rmtree(job.directory, ignore_errors=True)

    def _export(self, job: Job, base: str) -> dict[str, Any] | None:
        since = job.since if job.since is not None else -1
        output: list[dict[str, Any]] = []
        deleted: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        url = f"{base}/$export-file/{job.id}/"
        with self.store.snapshot() as (conn, t):
            types = job.types or [row[0] for row in conn.execute(
                "SELECT DISTINCT type FROM current WHERE deleted = 0 ORDER BY type")]
            failing = job.faults.faults.error_file
            failing = (types[0] if types else None) if failing == "" else failing
            for number, rtype in enumerate(types):
                job.progress = f"{number} of {len(types)} resource types"
                if rtype == failing:
                    for name, count in self._write_files(job, "errors", [_failure(rtype)]):
                        errors.append({"type": "OperationOutcome", "url": url + name,
                                       "count": count})
                    continue
                rows = conn.execute("SELECT v.json FROM current c JOIN versions v ON v.lu = c.lu "
                                    "WHERE c.type = ? AND c.deleted = 0 AND c.lu > ? ORDER BY c.lu",
                                    (rtype, since))
                for name, count in self._write_files(job, rtype, (json for (json,) in rows)):
                    output.append({"type": rtype, "url": url + name, "count": count})
                if job.cancelled.is_set():
                    return None
            if job.since is not None and types:
                marks = ",".join("?" * len(types))
                rows = conn.execute(f"SELECT type, id FROM current WHERE deleted = 1 AND lu > ? "
                                    f"AND type IN ({marks}) ORDER BY lu", (since, *types))
                for name, count in self._write_files(job, "Bundle-deleted",
                                                     self._delete_bundles(rows, t)):
                    deleted.append({"type": "Bundle", "url": url + name, "count": count})
        return {"transactionTime": format_lu(t), "request": job.request,
                "requiresAccessToken": self.requires_token, "output": output,
                "deleted": deleted, "error": errors}

    @staticmethod
    def _delete_bundles(rows: Any, t: int) -> Any:
        entries: list[dict[str, Any]] = []
        for rtype, rid in rows:
            entries.append({"request": {"method": "DELETE", "url": f"{rtype}/{rid}"}})
            if len(entries) == DELETES_PER_BUNDLE:
                yield _delete_bundle(entries, t)
                entries = []
        if entries:
            yield _delete_bundle(entries, t)

    def _write_files(self, job: Job, stem: str, lines: Any) -> list[tuple[str, int]]:
        """ndjson files of at most `file_lines` lines: [(name, count)]."""
        files: list[tuple[str, int]] = []
        handle: BinaryIO | None = None
        name = ""  # of the file `handle` writes
        count = 0
        try:
            for line in lines:
                if handle is None or count == self.file_lines:
                    if handle is not None:
                        handle.close()
                        files.append((name, count))
                    name = f"{stem}.{len(files) + 1}.ndjson"
                    handle = open(job.directory / name, "wb")
                    count = 0
                handle.write(line)
                handle.write(b"\n")
                count += 1
                if count % 10_000 == 0 and job.cancelled.is_set():
                    break
        finally:
            if handle is not None:
                handle.close()
                files.append((name, count))
        return files


def _failure(rtype: str) -> bytes:
    """The OperationOutcome of an error file: a type the export could not write."""
    return orjson.dumps({"resourceType": "OperationOutcome", "issue": [{
        "severity": "error", "code": "processing",
        "details": {"text": f"{rtype}: the export of this type failed (simulated fault: "
                            "the data store timed out)"}}]})


def _delete_bundle(entries: list[dict[str, Any]], t: int) -> bytes:
    return orjson.dumps({"resourceType": "Bundle", "id": str(uuid.uuid4()),
                         "meta": {"lastUpdated": format_lu(t)}, "type": "transaction",
                         "entry": entries})
