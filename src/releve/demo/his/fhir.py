"""What the demo HIS needs to know of FHIR R4: resource types, ids, instants and the
date ranges of search values, errors that become OperationOutcomes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from ...errors import ReleveError
from ...fhir.exact import loads_exact

RESOURCE_TYPES = frozenset("""
Account ActivityDefinition AdverseEvent AllergyIntolerance Appointment AppointmentResponse
AuditEvent Basic Binary BiologicallyDerivedProduct BodyStructure Bundle CapabilityStatement
CarePlan CareTeam CatalogEntry ChargeItem ChargeItemDefinition Claim ClaimResponse
ClinicalImpression CodeSystem Communication CommunicationRequest CompartmentDefinition
Composition ConceptMap Condition Consent Contract Coverage CoverageEligibilityRequest
CoverageEligibilityResponse DetectedIssue Device DeviceDefinition DeviceMetric DeviceRequest
DeviceUseStatement DiagnosticReport DocumentManifest DocumentReference EffectEvidenceSynthesis
Encounter Endpoint EnrollmentRequest EnrollmentResponse EpisodeOfCare EventDefinition Evidence
EvidenceVariable ExampleScenario ExplanationOfBenefit FamilyMemberHistory Flag Goal
GraphDefinition Group GuidanceResponse HealthcareService ImagingStudy Immunization
ImmunizationEvaluation ImmunizationRecommendation ImplementationGuide InsurancePlan Invoice
Library Linkage List Location Measure MeasureReport Media Medication MedicationAdministration
MedicationDispense MedicationKnowledge MedicationRequest MedicationStatement MedicinalProduct
MedicinalProductAuthorization MedicinalProductContraindication MedicinalProductIndication
MedicinalProductIngredient MedicinalProductInteraction MedicinalProductManufactured
MedicinalProductPackaged MedicinalProductPharmaceutical MedicinalProductUndesirableEffect
MessageDefinition MessageHeader MolecularSequence NamingSystem NutritionOrder Observation
ObservationDefinition OperationDefinition OperationOutcome Organization OrganizationAffiliation
Parameters Patient PaymentNotice PaymentReconciliation Person PlanDefinition Practitioner
PractitionerRole Procedure Provenance Questionnaire QuestionnaireResponse RelatedPerson
RequestGroup ResearchDefinition ResearchElementDefinition ResearchStudy ResearchSubject
RiskAssessment RiskEvidenceSynthesis Schedule SearchParameter ServiceRequest Slot Specimen
SpecimenDefinition StructureDefinition StructureMap Subscription Substance SubstanceNucleicAcid
SubstancePolymer SubstanceProtein SubstanceReferenceInformation SubstanceSourceMaterial
SubstanceSpecification SupplyDelivery SupplyRequest Task TerminologyCapabilities TestReport
TestScript ValueSet VerificationResult VisionPrescription""".split())

ID_RE = re.compile(r"[A-Za-z0-9\-.]{1,64}")
MAX_LU = (1 << 63) - 1
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class HisError(ReleveError):
    """Bad input to the demo HIS (a file it cannot load, a database it cannot serve)."""


class HisRequestError(ReleveError):
    """A request the server refuses: becomes an OperationOutcome with this HTTP status."""

    def __init__(self, status: int, message: str, code: str = "invalid"):
        super().__init__(message)
        self.status = status
        self.code = code


# --- time ----------------------------------------------------------------------------------


def format_lu(lu: int) -> str:
    """A FHIR instant with exactly six fractional digits, so that strings sort as times."""
    seconds, micro = divmod(lu, 1_000_000)
    return f"{_second(seconds)}.{micro:06d}Z"


@lru_cache(maxsize=1024)
def _second(seconds: int) -> str:
    return (EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")


DATE_RE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
                     r"(Z|[+\- ]\d{2}:\d{2})?)?)?)?")


def date_range(text: str) -> tuple[int, int]:
    """The half-open range [start, end) in microseconds that a FHIR date, dateTime or
    instant covers at its precision: 2024 is the whole year, 2024-05-01T10:00:00.5Z half
    a second. Times without a zone are UTC; a '+' decoded to a space is read back."""
    match = DATE_RE.fullmatch(text)
    if not match:
        raise HisRequestError(400, f"{text!r} is not a FHIR date, dateTime or instant")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        tz = UTC
        if zone and zone != "Z":
            sign = -1 if zone[0] == "-" else 1
            tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
        start = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0),
                         int(minute or 0), int(second or 0), int((fraction or "0")[:6].ljust(6, "0")),
                         tzinfo=tz)
    except ValueError as exc:
        raise HisRequestError(400, f"{text!r} is not a valid date ({exc})") from None
    if fraction:
        step = timedelta(microseconds=10 ** max(0, 6 - len(fraction)))
    elif second:
        step = timedelta(seconds=1)
    elif minute:
        step = timedelta(minutes=1)
    elif day:
        step = timedelta(days=1)
    elif month:
        nxt = datetime(int(year) + (int(month) == 12), int(month) % 12 + 1, 1, tzinfo=tz)
        step = nxt - start
    else:
        step = datetime(int(year) + 1, 1, 1, tzinfo=tz) - start
    begin = (start - EPOCH) // timedelta(microseconds=1)
    return begin, begin + step // timedelta(microseconds=1)


def lu_bounds(values: Iterable[str]) -> tuple[int, int]:
    """Inclusive [low, high] lastUpdated bounds from `_lastUpdated` search values, ANDed."""
    low, high = 0, MAX_LU
    for value in values:
        prefix, text = (value[:2], value[2:]) if value[:2].isalpha() else ("eq", value)
        start, end = date_range(text)
        if prefix == "eq":
            low, high = max(low, start), min(high, end - 1)
        elif prefix == "gt":
            low = max(low, end)
        elif prefix == "ge":
            low = max(low, start)
        elif prefix == "lt":
            high = min(high, start - 1)
        elif prefix == "le":
            high = min(high, end - 1)
        else:
            raise HisRequestError(400, f"_lastUpdated prefix {prefix!r} is not supported "
                                 "(eq, gt, ge, lt, le are)", "not-supported")
    return low, high


def check_type(rtype: str) -> str:
    if rtype not in RESOURCE_TYPES:
        raise HisRequestError(404, f"unknown resource type {rtype[:80]!r}", "not-supported")
    return rtype


def check_id(rid: str) -> str:
    if not ID_RE.fullmatch(rid):
        raise HisRequestError(400, f"{rid[:80]!r} is not a valid FHIR id")
    return rid


def parse_json(body: bytes, what: str = "the request body") -> Any:
    """JSON with FHIR decimals kept exactly as written."""
    try:
        return loads_exact(body)
    except (ValueError, RecursionError) as exc:
        raise HisRequestError(400, f"{what} is not valid JSON ({exc})") from None
