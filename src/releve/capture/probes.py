"""Asking the server, once per process, whether it does what its CapabilityStatement
says, where a wrong answer would otherwise cost every cycle.

A CapabilityStatement is a promise, not a proof. Some servers declare system `_history`
and answer it with an error that means "not here" (400, 403, 404, 405, 501, or an
OperationOutcome of code `not-supported`); some answer it with an empty history while
their type searches return data (Medplum's router does): taken at its word, the first
fails every cycle and the second captures nothing, silently. And `_elements=id` or
`_summary=true`, which make the id walk of search mode light, are often honoured without
being declared, or declared and ignored.

The rule for an empty history: a server that keeps system history lists at least one
version (no `_since`: its whole history) as soon as it holds one resource. An empty
history is normal on a server that holds nothing, so it is judged only against a type
search that finds something (`_count=1`, the smallest search every server serves). A
server that keeps history for a window only and had no change in it is then captured
by search: slower, never wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx
import orjson

from ..fhir.client import FhirClient, FhirError, outcome_text, parse_json

NOT_SUPPORTED = frozenset({400, 403, 404, 405, 501})
SUBSETTED = "SUBSETTED"  # meta.tag code (v3-ObservationValue) of a resource cut down
ID_ONLY_KEYS = frozenset({"resourceType", "id", "meta"})
PROBE_COUNT = 2


def history_refusal(client: FhirClient, types: Iterable[str]) -> str | None:
    """Why system `_history`, though declared, cannot serve the capture; None when it
    can. Raises FhirError when the server fails in a way that is not a refusal (it is
    down, or answers 401/500): the question is asked again at the next cycle."""
    response = client.get("_history", {"_count": 1})
    if response.status_code >= 400:
        if response.status_code in NOT_SUPPORTED or not_supported(response):
            return (f"it answers GET /_history with HTTP {response.status_code}"
                    f"{outcome_text(response)}")
        raise FhirError(f"_history: HTTP {response.status_code}{outcome_text(response)}")
    if _has_entries(parse_json(response.content, "_history")):
        return None
    found = first_type_with_data(client, types)
    if found is None:
        return None  # nothing anywhere: an empty history is the truth
    return f"its _history lists nothing while a search of {found} finds resources"


def not_supported(response: httpx.Response) -> bool:
    """Whether an error's OperationOutcome says `not-supported`."""
    try:
        outcome = orjson.loads(response.content)
        return any(isinstance(issue, dict) and issue.get("code") == "not-supported"
                   for issue in outcome.get("issue") or [])
    except (orjson.JSONDecodeError, AttributeError, TypeError):
        return False


def first_type_with_data(client: FhirClient, types: Iterable[str]) -> str | None:
    """The first of `types` (Patient first) whose search finds a resource, if any; a
    type the server refuses to search is passed over."""
    ordered = sorted(types, key=lambda rtype: (rtype != "Patient", rtype))
    for rtype in ordered:
        response = client.get(rtype, {"_count": 1})
        if response.status_code < 400 and _has_entries(parse_json(response.content, rtype)):
            return rtype
    return None


# --- the id walk's form -----------------------------------------------------------------

IdParams = tuple[tuple[str, str], ...]


def id_form(client: FhirClient, rtype: str) -> tuple[IdParams, str]:
    """How the id walk asks this server for ids, found by one small search of `rtype` (a
    type it holds) per form: `_elements=id` if honoured, else `_summary=true` if
    honoured, else whole resources; and the finding in words, for the status."""
    tried: list[str] = []
    for params, honoured in ((("_elements", "id"),), _id_only), ((("_summary", "true"),), _subsetted):
        form = "&".join(f"{k}={v}" for k, v in params)
        response = client.get(rtype, {**dict(params), "_count": PROBE_COUNT})
        if response.status_code >= 500:
            raise FhirError(f"{rtype} ({form}): HTTP {response.status_code}"
                            f"{outcome_text(response)}")
        resources = _resources(response) if response.status_code < 400 else []
        if resources and all(honoured(resource) for resource in resources):
            return params, f"a search of {rtype} with {form} honours it" + _after(tried)
        tried.append(f"{form} {'refused' if response.status_code >= 400 else 'ignored'}")
    return (), f"whole resources: a search of {rtype} has {', '.join(tried)}"


def _after(tried: list[str]) -> str:
    return f" ({', '.join(tried)})" if tried else ""


def _resources(response: httpx.Response) -> list[dict[str, Any]]:
    bundle = parse_json(response.content, "id walk probe")
    return [entry["resource"] for entry in bundle.get("entry") or []
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)
            and (entry.get("search") or {}).get("mode", "match") == "match"]


def _subsetted(resource: dict[str, Any]) -> bool:
    tags = (resource.get("meta") or {}).get("tag") or []
    return any(isinstance(tag, dict) and tag.get("code") == SUBSETTED for tag in tags)


def _id_only(resource: dict[str, Any]) -> bool:
    return _subsetted(resource) or set(resource) <= ID_ONLY_KEYS


def _has_entries(bundle: dict[str, Any]) -> bool:
    total = bundle.get("total")
    return bool(bundle.get("entry")) or (isinstance(total, int) and total > 0)
