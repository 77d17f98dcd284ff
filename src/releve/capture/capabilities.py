"""What a FHIR server can do, read from its CapabilityStatement, and the capture mode
that follows.

Servers differ: system-level `_history` is optional in FHIR and many servers lack it
(Medplum's router does), some offer Bulk Data `$export`, few declare every search
result parameter. Capture reads `[base]/metadata`, as the specification says a
client should, and chooses what the server declares rather than failing cycle after
cycle on a query the server never promised to answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ReleveError
from ..fhir.client import FhirClient, FhirError
from . import probes

MODES = ("auto", "history", "search", "bulk")
BULK_EXPORT = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"
BULK_SERVER = "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"


class ModeError(ReleveError):
    """The mode asked for is one the server does not offer; the message names the one to
    use. Retrying cannot help: the capture stops."""


@dataclass(frozen=True)
class Plan:
    """How this server is captured, and why (shown by `releve capture status`)."""

    mode: str  # history, search or bulk
    why: str
    types: tuple[str, ...]  # the resource types it can search
    id_params: tuple[tuple[str, str], ...]  # what asks a search for ids only, if anything

    @property
    def id_walk_form(self) -> str:
        """How the id walk asks (for the status): the parameters, or whole resources."""
        return "&".join(f"{k}={v}" for k, v in self.id_params) or "whole resources"


def plan(client: FhirClient, asked: str) -> Plan:
    """Read the server's CapabilityStatement and choose the mode for `asked` (one of
    MODES); a declared system `_history` is tried first (probes.py). Raises FhirError if
    the server cannot be read, ModeError if `asked` is impossible."""
    chosen = choose(client.capabilities(), asked)
    if chosen.mode != "history":
        return chosen
    refusal = probes.history_refusal(client, chosen.types)
    return chosen if refusal is None else without_history(chosen, asked, refusal)


def without_history(chosen: Plan, asked: str, refusal: str) -> Plan:
    """Search mode for a server whose declared system `_history` does not work, or the
    ModeError that names it when history was asked for by name."""
    if asked == "history":
        raise ModeError(f"the server declares system-level _history, but {refusal}: "
                        "use --mode search")
    return Plan("search", f"the server declares system-level _history, but {refusal}: "
                "type-level searches by _lastUpdated, deletions found by the id walk",
                chosen.types, chosen.id_params)


def choose(statement: dict[str, Any], asked: str) -> Plan:
    if asked not in MODES:
        raise ModeError(f"capture mode {asked!r} is not available ({', '.join(MODES)})")
    types = searchable_types(statement)
    history = "history-system" in system_interactions(statement)
    export = declares_export(statement)
    params = result_params(statement)
    id_params = ((("_elements", "id"),) if "_elements" in params
                 else (("_summary", "true"),) if "_summary" in params else ())

    def made(mode: str, why: str) -> Plan:
        return Plan(mode, why, types, id_params)

    if asked == "bulk":
        if export:
            return made("bulk", "asked for; the server declares Bulk Data $export")
        other = "history" if history else "search"
        raise ModeError("the server's CapabilityStatement declares no Bulk Data export "
                        f"($export): use --mode {other}"
                        + (" (it declares system-level _history)" if history else
                           " (it declares no system-level _history either)"))
    if asked == "search":
        return made("search", "asked for with --mode search")
    if history:
        return made("history", "the server declares system-level _history (history-system)")
    return made("search", ("--mode history asked, but " if asked == "history" else "")
                + "the server's CapabilityStatement declares no system-level _history "
                "(history-system): type-level searches by _lastUpdated, deletions found "
                "by the id walk")


def searchable_types(statement: dict[str, Any]) -> tuple[str, ...]:
    types = set()
    for rest in _server_rests(statement):
        for resource in _dicts(rest.get("resource")):
            kinds = {i.get("code") for i in _dicts(resource.get("interaction"))}
            if "search-type" in kinds and isinstance(resource.get("type"), str):
                types.add(resource["type"])
    if not types:
        raise FhirError("metadata: the server declares no searchable resource type")
    return tuple(sorted(types))


def system_interactions(statement: dict[str, Any]) -> set[str]:
    return {str(i.get("code")) for rest in _server_rests(statement)
            for i in _dicts(rest.get("interaction"))}


def declares_export(statement: dict[str, Any]) -> bool:
    """Bulk Data export at system level: the operation, or the Bulk Data server's
    CapabilityStatement instantiated."""
    if BULK_SERVER in (statement.get("instantiates") or []):
        return True
    return any(op.get("name") in ("export", "$export")
               or str(op.get("definition", "")).startswith(BULK_EXPORT)
               for rest in _server_rests(statement) for op in _dicts(rest.get("operation")))


def result_params(statement: dict[str, Any]) -> set[str]:
    """Search parameters the server declares for every type (at `rest` level) or for each
    of its searchable types; `_elements` and `_summary` count only if declared for all."""
    common: set[str] = set()
    per_type: list[set[str]] = []
    for rest in _server_rests(statement):
        common |= {str(p.get("name")) for p in _dicts(rest.get("searchParam"))}
        for resource in _dicts(rest.get("resource")):
            kinds = {i.get("code") for i in _dicts(resource.get("interaction"))}
            if "search-type" in kinds:
                per_type.append({str(p.get("name")) for p in _dicts(resource.get("searchParam"))})
    everywhere = set.intersection(*per_type) if per_type else set()
    return common | everywhere


def _server_rests(statement: dict[str, Any]) -> list[dict[str, Any]]:
    return [rest for rest in _dicts(statement.get("rest")) if rest.get("mode", "server") == "server"]


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
