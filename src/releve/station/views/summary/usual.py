"""The usual treatment ("traitement habituel"): the patient's MedicationStatements, the
home medication an IPS or a HIS lists beside the hospital's orders.

Which statement is current is fhir.clinical.statements's rule; the drug is read as the
orders' is (drug_name: its own code, a Medication in the index or a contained one). The
current ones come first, in name order; the others follow, marked not current.
"""

from __future__ import annotations

from ....fhir.clinical import statements
from ....fhir.clinical.values import as_dict, as_list, as_text
from ..collation import french_key
from .medications import drug_name, prescription_text
from .model import Summary, UsualTreatment
from .reader import Reader


def usual(reader: Reader, summary: Summary) -> None:
    def read(resource: dict) -> UsualTreatment:
        standing = statements.statement_standing(resource, reader.now, reader.tz)
        amount, route, often = prescription_text(statements.statement_dosages(resource))
        start, end = statements.effective_period(resource)
        notes = [as_text(as_dict(n).get("text")) for n in as_list(resource.get("note"))]
        return UsualTreatment(
            id=as_text(resource.get("id")), drug=drug_name(reader, resource), dose=amount, route=route,
            dosage=often, status=standing.status, status_text=standing.status_text,
            current=standing.current, start=start, end=end, ended=standing.ended,
            source=reader.lookup.person(resource.get("informationSource")),
            note=" ".join(n for n in notes if n))

    found = reader.each("MedicationStatement", read)
    summary.usual = sorted(found, key=lambda u: (not u.current, french_key(u.drug)))
