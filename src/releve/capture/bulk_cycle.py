"""A capture cycle through Bulk Data `$export` (`_since` the mark), as docs/capture.md
("Bulk mode") tells.

The export's job outlives the process: its status URL is saved in the status
(`bulk_job`) as soon as the server accepts the kick-off, so that a capture killed while
the server prepares the files polls the same job when it starts again, rather than
asking for a new one (a second export of a large hospital costs the HIS an hour). Once
the job's manifest is in hand the job is used up, whatever follows: the status URL is
DELETEd (the IG's "files may go") and forgotten. A job the server says failed is
cancelled the same way; one still running when polling gives up is kept.

A manifest that lists any `error` file writes nothing: a short full segment would make
the stations drop what the failed files held, and a delta with the mark moved past them
would lose them for good. The cycle fails with the server's own words (the error files'
OperationOutcome texts), the mark stays, and the next cycle asks again.

The next mark is the manifest's `transactionTime`, verbatim: the server's clock, never
ours (the two may disagree by minutes), and the instant up to which the server vouches
for the export. A resource committed while the export ran is stamped after it and comes
with the next export; our clock at the end of the export would skip it.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from .. import clock
from ..fhir import bulk
from ..fhir.client import FhirClient, FhirError
from ..files import create_private, private_folder
from ..vault.format import delete_line
from .export_watch import ExportWatch, Notify, watching
from .fhir_capture import CaptureError, Status, kept_verdict, written_kind
from .files import Source, ndjson_tasks
from .guard import Guard, removal_suspicion
from .scan import KEY_RE, Task
from .writer import SNAPSHOT, WriteError, Writer, Written


def bulk_cycle(client: FhirClient, writer: Writer, status: Status, started: dt.datetime,
               guard: Guard, notify: Notify | None = None) -> Written | None:
    """One bulk cycle. Raises CaptureError (status updated) when it cannot complete."""
    watch = watching(notify)
    first, clock_started = status.since is None, time.monotonic()
    folder = writer.state.dir / "bulk"
    shutil.rmtree(folder, ignore_errors=True)
    private_folder(folder)
    try:
        manifest, polling = _exported(client, status, writer.state.dir, watch, started)
        try:
            outputs, size, deletes = _fetched(client, manifest, folder, watch)
            deletes = list(dict.fromkeys(deletes))  # an entry per deleted version: once each
            verdict: list[str | None] = []

            def judge() -> str | None:  # by the held resources removed, not the entries
                return kept_verdict(verdict, None if first else removal_suspicion(writer.state, guard))

            written = writer.write(lambda: _tasks(outputs, deletes), f"capture bulk {client.base}",
                                   kind=SNAPSHOT if first else "delta", suspect=judge,
                                   size_hint=size)
            suspect = verdict[-1] if verdict else None
            if suspect:
                status.note("alert", suspect)
        except (FhirError, WriteError, KeyError, TypeError) as exc:
            message = str(exc) if isinstance(exc, (FhirError, WriteError)) \
                else f"$export: malformed manifest ({exc})"
            raise _failed(status, started, message) from exc
        finally:
            _forget(client, status, cancel=True)  # the job is used up
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    status.since = str(manifest["transactionTime"])
    status.cycles += 1
    status.last_cycle = {
        "started": started.isoformat(), "seconds": round(time.monotonic() - clock_started, 3),
        "ok": True, "kind": written_kind(written), "seen": written.puts if written else 0,
        "puts": written.puts if written else 0, "deletes": written.deletes if written else 0,
        "segment": written.seq if written else None, "suspect": suspect,
        "server_time": status.since, "export": polling,
    }
    return written


def _exported(client: FhirClient, status: Status, state_dir: Path, watch: ExportWatch,
              started: dt.datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """The manifest of this cycle's export, and what polling it saw: the saved job's if
    the server still knows it, else a new job's. Failures fail the cycle, keeping the
    job when it may still finish."""
    try:
        job = status.bulk_job
        if job and job.get("since") != status.since:  # not the export of this mark
            _forget(client, status, cancel=True)
        elif job:
            watch.line(f"export: polling again the job kicked off at {job.get('kicked_off')}")
            try:
                return _polled(client, status, state_dir, watch)
            except bulk.JobGone:
                watch.line("export: the server no longer knows that job; starting a new export")
                _forget(client, status, cancel=False)
        status_url = bulk.kick_off(client, {"_since": status.since} if status.since else {})
        status.bulk_job = {"status_url": status_url, "since": status.since,
                           "kicked_off": clock.now().isoformat(), "polls": 0, "waited": 0.0}
        status.save(state_dir)
        return _polled(client, status, state_dir, watch)
    except bulk.JobGone as exc:
        _forget(client, status, cancel=False)
        raise _failed(status, started, str(exc)) from exc
    except bulk.ExportFailed as exc:
        _forget(client, status, cancel=True)
        raise _failed(status, started, str(exc)) from exc
    except FhirError as exc:  # stalled, or the server unreachable: the job may still finish
        raise _failed(status, started, str(exc)) from exc


def _polled(client: FhirClient, status: Status, state_dir: Path,
            watch: ExportWatch) -> tuple[dict[str, Any], dict[str, Any]]:
    """Poll the saved job to its manifest, saving and showing its progress as it goes;
    the counts are the job's, over every process that polled it."""
    job = status.bulk_job
    before = int(job.get("polls", 0)), float(job.get("waited", 0.0))

    def observe(polling: bulk.Polling) -> None:
        shown = job.get("progress")
        job.update(polling.record(), polls=before[0] + polling.polls,
                   waited=round(before[1] + polling.waited, 1))
        if polling.progress and polling.progress != shown:
            watch.progress(polling.progress)
        if polling.wait and not polling.wait.endswith("running"):
            watch.line(f"export: waiting {polling.wait}")
        status.save(state_dir)

    manifest, polling = bulk.poll(client, str(job["status_url"]), observe)
    return manifest, {**polling.record(), "polls": before[0] + polling.polls,
                      "waited": round(before[1] + polling.waited, 1),
                      "kicked_off": job.get("kicked_off"),
                      "transaction_time": manifest["transactionTime"]}


def _fetched(client: FhirClient, manifest: dict[str, Any], folder: Path,
             watch: ExportWatch) -> tuple[list[Path], int, list[str]]:
    """The manifest's files in `folder`: (output files, their bytes, deleted keys). Error
    files fail the cycle with what they say."""
    errors = manifest.get("error") or []
    if errors:
        paths = []
        for number, item in enumerate(errors):
            paths.append(folder / f"error-{number:05d}.ndjson")
            create_private(paths[-1])
            bulk.download(client, str(item["url"]), paths[-1])
        raise FhirError(f"$export: the server could not export everything "
                        f"({bulk.error_report(paths)}); nothing of this export is written, "
                        "the next cycle asks again")
    outputs, size = [], 0
    watch.downloading(len(manifest["output"]) + len(manifest.get("deleted") or []))
    for number, item in enumerate(manifest["output"]):
        target = folder / f"{number:05d}.ndjson"
        create_private(target)
        size += _download(client, str(item["url"]), target, watch)
        outputs.append(target)
    deletes = []
    for number, item in enumerate(manifest.get("deleted") or []):
        target = folder / f"deleted-{number:05d}.ndjson"
        create_private(target)
        _download(client, str(item["url"]), target, watch)
        deletes += _deleted_keys(target)
    watch.fetched()
    return outputs, size, deletes


def _download(client: FhirClient, url: str, target: Path, watch: ExportWatch) -> int:
    size = bulk.download(client, url, target)
    watch.downloaded(size)
    return size


def _tasks(outputs: list[Path], deletes: list[str]) -> Iterator[Task]:
    if deletes:  # first: a resource deleted then created again is current
        yield Task(label="deleted", allow_deletes=True, data=b"".join(
            delete_line(*key.split("/", 1)) for key in deletes))
    for path in outputs:
        if path.stat().st_size:
            yield from ndjson_tasks(Source(path, "ndjson", None))


def _deleted_keys(path: Path) -> list[str]:
    """`Type/id` of every DELETE entry in a Bulk `deleted` file (one Bundle per line)."""
    keys = []
    with open(path, "rb") as lines:
        for line in lines:
            if not line.strip():
                continue
            bundle = orjson.loads(line)
            for entry in bundle.get("entry", []):
                request = entry.get("request") or {}
                url = str(request.get("url", "")).split("/_history")[0].strip("/")
                if request.get("method") == "DELETE" and KEY_RE.fullmatch(url):
                    keys.append(url)
    return keys


def _forget(client: FhirClient, status: Status, cancel: bool) -> None:
    """Drop the saved job, DELETEing its status URL first when `cancel`."""
    job, status.bulk_job = status.bulk_job, {}
    if cancel and job.get("status_url"):
        bulk.cancel(client, str(job["status_url"]))


def _failed(status: Status, started: dt.datetime, message: str) -> CaptureError:
    status.note("error", message)
    status.last_cycle = {"started": started.isoformat(), "ok": False, "error": message}
    return CaptureError(message)
