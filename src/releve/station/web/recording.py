"""What every page that writes to the journal shares: the CSRF token, the author, the
role check, the vault head the author saw, and the write itself (audited).

A write is acknowledged to the browser only once `Journal.append` has returned: the entry
is then fsynced. The forms post back to the station only: the Origin check
(guard.py) and a per-session CSRF token (derived from the session's cookie, which no
other site can read) both stand in the way of a forged post.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request

from ... import clock
from ...journal.entry import Author, Draft, Entry
from ...journal.kinds import Context
from ...journal.roles import may_record
from ..index.identities import contained_patient
from ..views import movements, resources
from . import access
from .base import audit, current_user, station

CSRF_FIELD = "csrf"


def csrf_of(session_token: str) -> str:
    """The session's CSRF token: an HMAC of a fixed label under the session's own token."""
    return hmac.new(session_token.encode(), b"releve-csrf", hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """For the hidden field of every form (templates call it as csrf_token(request))."""
    return getattr(request.state, "csrf", "") or ""


async def checked_form(request: Request) -> FormData:
    """The posted form, once its CSRF token is the session's (403 otherwise)."""
    form = await request.form()
    expected = csrf_token(request)
    if not expected or not hmac.compare_digest(str(form.get(CSRF_FIELD, "")), expected):
        raise HTTPException(403, "csrf")
    return form


def author(request: Request) -> Author:
    user = current_user(request)
    return Author(user.name, user.display_name, user.role)


def require(request: Request, kind: str) -> None:
    """403 unless the signed-in role may record this kind: checked on the server."""
    if not may_record(current_user(request).role, kind):
        raise HTTPException(403, "role")


def patient_context(request: Request, pid: str) -> Context:
    """The context of a write about a patient, without building the patient's page: the
    patient known (the vault's, or admitted during the downtime: 404 otherwise), open to
    the user (403), and the stay in progress (a movement recorded here first). A write
    is acknowledged within milliseconds; a summary takes ten. Run it in a thread."""
    here = station(request)
    conn = here.db()
    moves = movements.read(here.journal)
    known = pid in moves.patients or (conn is not None and (
        resources.resource(conn, "Patient", pid) is not None or contained_patient(conn, pid) is not None))
    if not known:
        raise HTTPException(404, "patient")
    if not access.may_open(request, pid):
        raise HTTPException(403, "role")
    local = moves.stay_of(pid)
    stay = local.encounter if local else None
    if stay is None and conn is not None:
        found = resources.current_stay(conn, pid)
        stay = found.get("id") if found else None
    return Context(now=clock.now(), zone=here.settings().timezone, patient=f"Patient/{pid}",
                   role=current_user(request).role, encounter=f"Encounter/{stay}" if stay else None)


def vault_head(request: Request) -> dict | None:
    """The segment the author's page was built from: recorded with each entry."""
    head = station(request).head()
    return {"seq": head.seq, "hash": head.sha256} if head else None


async def record(request: Request, drafts: list[Draft], page: str) -> list[Entry]:
    """Write the drafts (fsynced), then audit the write; only then answer the browser."""
    for draft in drafts:
        require(request, draft.kind)
    here = station(request)
    entries = await run_in_threadpool(here.journal.append, drafts, author(request),
                                      vault_head(request))
    patients = sorted({e.patient.removeprefix("Patient/") for e in entries if e.patient})
    action = "correct" if any(d.supersedes for d in drafts) else "record"
    await run_in_threadpool(audit, request, action, page, patients[0] if len(patients) == 1 else None,
                            " ".join(e.key for e in entries), patients if len(patients) > 1 else ())
    return entries
