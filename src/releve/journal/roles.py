"""Who may record what: one table, enforced by the server for forms and API alike.

A role that may record a kind may also correct or cancel an entry of that kind (a
correction is a new entry of the same kind that supersedes the old one). Only
physicians write orders; only pharmacists check them. Admins, the crisis cell and
peers record nothing: they read.
"""

from __future__ import annotations

CARE = ("nurse", "physician")
KINDS: dict[str, tuple[str, ...]] = {
    "administration": CARE,          # MedicationAdministration against the plan
    "observation": CARE,             # vital signs and other observations
    "note": ("nurse", "physician", "pharmacist"),  # nursing, medical, pharmacy notes
    "transmission": CARE,            # handover between shifts
    "admission": (*CARE, "secretary"),  # Patient (downtime IPP) and Encounter
    "transfer": (*CARE, "secretary"),
    "discharge": (*CARE, "secretary"),
    "death": CARE,
    "order": ("physician",),         # prescription de mode dégradé
    "order-check": ("pharmacist",),  # the pharmacist's check of such an order
}


def may_record(role: str, kind: str) -> bool:
    return role in KINDS.get(kind, ())


def recordable(role: str) -> list[str]:
    """The kinds a role may record, for the pages to offer only those."""
    return [kind for kind, roles in KINDS.items() if role in roles]
