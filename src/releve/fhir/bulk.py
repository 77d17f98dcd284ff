"""Bulk Data `$export`, client side, as the HL7 FHIR Bulk Data Access IG says: kick-off,
polling the status URL, the files, the errors, and cancelling.

Polling is where real servers differ most. A 202 is "still running" (its `X-Progress`
is kept and shown); a 429 or 503 is "slow down": wait its `Retry-After` (capped by
`Retry.max_retry_after`), or back off; a 5xx whose OperationOutcome has a transient issue
code means the poll failed, not the job: poll the same URL again, with backoff. Only
another error ends the job (ExportFailed), and a 404 or 410 says the server no longer
knows it (JobGone): the caller then starts a new export. Answers that are neither
progress nor a manifest count against TRANSIENT_POLLS in a row; when that or the
deadline runs out the job is kept (ExportStalled), to be polled again later rather than
restarted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from .client import RETRY_STATUS, FhirClient, FhirError, _path, outcome_text, retry_after_seconds

# IssueType codes under `transient` (FHIR R4), `exception` aside: servers also use it for
# a job that failed for good, which polling again cannot mend
TRANSIENT_CODES = frozenset({"transient", "lock-error", "no-store", "timeout", "incomplete",
                             "throttled"})
TRANSIENT_POLLS = 30  # answers in a row that are neither progress nor a manifest
POLL_RETRIED = RETRY_STATUS - {429, 503}  # left to FhirClient.get (a proxy's 502 and 504)
TEXTS_SHOWN = 5  # distinct OperationOutcome texts quoted from the error files
TEXT_CHARS = 200


class JobGone(FhirError):
    """The status URL answers 404 or 410: the server forgot the job (restarted, expired)."""


class ExportFailed(FhirError):
    """The server says the export failed: polling again cannot help."""


class ExportStalled(FhirError):
    """Polling gave up for now (deadline, or too many transient answers in a row); the
    job may still finish, and is polled again by the next cycle."""


@dataclass
class Polling:
    """What polling one job has seen so far: shown as it goes, kept in the status."""

    polls: int = 0
    waited: float = 0.0  # seconds slept between polls
    progress: str | None = None  # the last X-Progress
    wait: str | None = None  # the last pause and why ("2 s: HTTP 429, Retry-After 2")

    def record(self) -> dict[str, Any]:
        return {"polls": self.polls, "waited": round(self.waited, 1),
                "progress": self.progress, "wait": self.wait}


def kick_off(client: FhirClient, params: dict[str, Any]) -> str:
    """Start a system-level export (`Prefer: respond-async`); its status URL."""
    response = client.get("$export", params, headers={"Prefer": "respond-async"})
    if response.status_code != 202 or "content-location" not in response.headers:
        raise FhirError(f"$export: expected 202 with Content-Location, got HTTP "
                        f"{response.status_code}{outcome_text(response)}")
    return client.url(response.headers["content-location"])


def poll(client: FhirClient, status_url: str, observe: Callable[[Polling], None] | None = None,
         timeout: float = 3600.0) -> tuple[dict[str, Any], Polling]:
    """Poll `status_url` until the manifest; it and what polling saw. `observe(polling)`
    is told before each pause."""
    polling = Polling()
    started = time.monotonic()
    answers_in_a_row = 0
    while True:
        response = client.get(status_url, retry_on=POLL_RETRIED)
        polling.polls += 1
        code = response.status_code
        if code == 200:
            return _manifest(response), polling
        if code in (404, 410):
            raise JobGone(f"$export status: HTTP {code}: the server no longer knows the job")
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if code == 202:
            polling.progress = response.headers.get("X-Progress") or polling.progress
            answers_in_a_row = 0
            wait = client.retry.delay(min(polling.polls - 1, 6), retry_after)
            why = "running"
        elif code in (429, 503) or (code >= 500 and _transient(response)):
            answers_in_a_row += 1
            if answers_in_a_row > TRANSIENT_POLLS:
                raise ExportStalled(f"$export status: {TRANSIENT_POLLS} transient errors in a "
                                    f"row (HTTP {code}{outcome_text(response)}); the job is "
                                    "polled again next cycle")
            wait = client.retry.delay(answers_in_a_row - 1, retry_after)
            why = f"HTTP {code}" + (f", Retry-After {retry_after:g}" if retry_after is not None
                                    else f", transient{outcome_text(response)}")
        else:
            raise ExportFailed(f"$export status: HTTP {code}{outcome_text(response)}")
        if max(time.monotonic() - started, polling.waited) + wait > timeout:
            raise ExportStalled(f"$export still running after {timeout:.0f} s; the job is "
                                "polled again next cycle")
        polling.waited += wait
        polling.wait = f"{wait:.1f} s: {why}"
        if observe is not None:
            observe(polling)
        client.sleep(wait)


def cancel(client: FhirClient, status_url: str) -> None:
    """DELETE the status URL: the IG's cancel of a running job, and for a finished one the
    sign that its files may go. Best effort: the job may be gone already."""
    try:
        client.http.delete(client.url(status_url))
    except httpx.HTTPError:
        pass


def download(client: FhirClient, url: str, target: Path) -> int:
    """Stream one file of an export to `target` (which keeps its mode); bytes written."""
    failure = ""
    for attempt in range(client.retry.attempts):
        retry_after, code = None, None
        try:
            with client.http.stream("GET", client.url(url)) as response:
                if response.status_code in RETRY_STATUS:
                    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                    code = response.status_code
                    raise httpx.NetworkError(f"HTTP {code}")
                if response.status_code != 200:
                    raise FhirError(f"{_path(url)}: HTTP {response.status_code}")
                size = 0
                with open(target, "wb") as out:
                    for chunk in response.iter_bytes(1 << 20):
                        out.write(chunk)
                        size += len(chunk)
                return size
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            failure = str(exc) if isinstance(exc, httpx.NetworkError) else type(exc).__name__
            if attempt + 1 < client.retry.attempts:
                client.wait_to_retry(attempt, url, False, f"HTTP {code}" if code
                                     else type(exc).__name__, retry_after)
    raise FhirError(f"{_path(url)}: still failing after {client.retry.attempts} attempts "
                    f"({failure})")


def error_report(paths: list[Path]) -> str:
    """What the server says went wrong, from the error files of a manifest: the distinct
    texts (diagnostics, else details.text) of their OperationOutcomes' issues, and
    nothing else of them (never a resource)."""
    texts: list[str] = []
    issues = 0
    for path in paths:
        with open(path, "rb") as lines:
            for line in lines:
                for issue in _issues(line):
                    issues += 1
                    text = issue.get("diagnostics") or (issue.get("details") or {}).get("text")
                    if isinstance(text, str) and text[:TEXT_CHARS] not in texts:
                        texts.append(text[:TEXT_CHARS])
    if not texts:
        return f"{len(paths)} error files without a readable OperationOutcome"
    shown = "; ".join(texts[:TEXTS_SHOWN])
    more = f" (and {len(texts) - TEXTS_SHOWN} more)" if len(texts) > TEXTS_SHOWN else ""
    return f"{issues} issues in {len(paths)} error files: {shown}{more}"


def _issues(line: bytes) -> list[dict[str, Any]]:
    try:
        outcome = orjson.loads(line) if line.strip() else None
    except orjson.JSONDecodeError:
        return []
    if not isinstance(outcome, dict) or outcome.get("resourceType") != "OperationOutcome":
        return []
    return [issue for issue in outcome.get("issue") or [] if isinstance(issue, dict)]


def _transient(response: httpx.Response) -> bool:
    """Whether the answer's OperationOutcome says the failure is transient."""
    try:
        outcome = orjson.loads(response.content)
        return any(issue.get("code") in TRANSIENT_CODES for issue in outcome.get("issue") or [])
    except (orjson.JSONDecodeError, AttributeError, TypeError):
        return False


def _manifest(response: httpx.Response) -> dict[str, Any]:
    try:
        manifest = orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise ExportFailed("$export: the manifest is not JSON") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("output"), list):
        raise ExportFailed("$export: the manifest has no output list")
    if not isinstance(manifest.get("transactionTime"), str):
        raise ExportFailed("$export: the manifest has no transactionTime")
    return manifest
