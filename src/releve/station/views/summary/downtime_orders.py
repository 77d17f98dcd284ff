"""The orders physicians wrote on a station during the downtime, and their pharmacist's
check: an overlay on the medications section (it runs after it).

Each current downtime order becomes a `DowntimeOrder`; a medication order's line in the
plan gets it too, so that the page flags it « prescription de mode dégradé » and « à
valider par la pharmacie » until a pharmacist's check of its current version exists, then
« validée par … » or « à modifier : … ». A check names the version it was about (its
journal entry): a corrected order is to check again. The latest check of a version wins.

Only resources from the journal are read here (`reader.recorded`): the vault's orders
went through the HIS's own prescribing and pharmacy.
"""

from __future__ import annotations

from ....fhir.clinical.values import as_text, concept_text
from ....journal.kinds import order as order_kind
from ....journal.kinds import order_check
from .medications import prescription_text
from .model import DowntimeOrder, Summary
from .reader import Mark, Reader

LOCAL_ORDERS = ("MedicationRequest", "ServiceRequest")


def downtime_orders(reader: Reader, summary: Summary) -> None:
    checks = _checks(reader)
    found: list[DowntimeOrder] = []
    for rtype in LOCAL_ORDERS:
        for resource in reader.by_type.get(rtype, []):
            mark = reader.recorded(resource)
            if mark is None or not order_kind.is_downtime(resource) or resource.get("status") != "active":
                continue
            found.append(_order(reader, rtype, resource, mark, checks.get(mark.key)))
    found.sort(key=lambda o: o.time, reverse=True)
    by_id = {o.id: o for o in found if o.rtype == "MedicationRequest"}
    for medication in summary.medications:
        medication.downtime = by_id.get(medication.id)
    summary.downtime_orders = found


def _checks(reader: Reader) -> dict[str, tuple[dict, Mark]]:
    """The latest check of each order version, by the version's journal key."""
    latest: dict[str, tuple[dict, Mark]] = {}
    reader.used.add("Provenance")  # the checks are shown with their orders, not under "Autres"
    for resource in reader.by_type.get("Provenance", []):
        mark = reader.recorded(resource)
        key = order_check.checked_entry(resource)
        if mark is None or not key or resource.get("status") == "entered-in-error":
            continue
        if key not in latest or latest[key][1].time < mark.time:
            latest[key] = (resource, mark)
    return latest


def _order(reader: Reader, rtype: str, resource: dict, mark: Mark,
           check: tuple[dict, Mark] | None) -> DowntimeOrder:
    order = DowntimeOrder(mark.key, rtype, as_text(resource.get("id")), order_text(resource),
                          "active", mark.author, mark.time)
    if rtype != "MedicationRequest":
        return order
    order.check = "to-check"
    if check is not None:
        provenance, by = check
        order.check = order_check.outcome_of(provenance) or "to-check"
        order.checker, order.checked_at = by.author, by.time
        order.comment = order_check.comment_of(provenance)
    return order


def order_text(resource: dict) -> str:
    """A downtime order in one line, as the pharmacist's list and the history show it
    (its drug is always its own medicationCodeableConcept: order_kind writes it so)."""
    if resource.get("resourceType") == "ServiceRequest":
        categories = [concept_text(c) for c in resource.get("category") or []
                      if not order_kind.is_downtime({"category": [c]})]
        what = concept_text(resource.get("code")) or "Demande"
        return f"{what} ({', '.join(c for c in categories if c)})" if any(categories) else what
    amount, route, often = prescription_text(resource.get("dosageInstruction") or [])
    drug = concept_text(resource.get("medicationCodeableConcept"))
    return ", ".join(p for p in (f"{drug} {amount}".strip(), route, often) if p)
