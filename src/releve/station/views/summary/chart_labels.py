"""The French words the chart's sections give to resource types and statuses (the page
translates them: see i18n/en_chart.py). A status with no word here is not shown as a
code: the page says nothing rather than 'on-hold'."""

from __future__ import annotations

TYPE_LABELS = {
    "Account": "Comptes", "AdverseEvent": "Événements indésirables",
    "AllergyIntolerance": "Allergies et intolérances", "Appointment": "Rendez-vous",
    "AuditEvent": "Traces d'accès", "Basic": "Éléments divers", "Binary": "Fichiers",
    "BodyStructure": "Sites anatomiques", "CarePlan": "Plans de soins",
    "CareTeam": "Équipes soignantes", "ChargeItem": "Actes facturables",
    "Claim": "Demandes de remboursement", "ClaimResponse": "Réponses aux demandes de remboursement",
    "ClinicalImpression": "Synthèses cliniques", "Communication": "Communications",
    "CommunicationRequest": "Demandes de communication", "Composition": "Documents structurés",
    "Condition": "Problèmes et antécédents", "Consent": "Consentements",
    "Coverage": "Couvertures (assurance)", "DetectedIssue": "Problèmes détectés",
    "Device": "Dispositifs médicaux", "DeviceRequest": "Demandes de dispositifs",
    "DeviceUseStatement": "Utilisations de dispositifs", "DiagnosticReport": "Comptes rendus",
    "DocumentReference": "Documents", "Encounter": "Séjours et venues",
    "EpisodeOfCare": "Épisodes de soins", "ExplanationOfBenefit": "Décomptes de remboursement",
    "FamilyMemberHistory": "Antécédents familiaux", "Flag": "Alertes", "Goal": "Objectifs de soins",
    "ImagingStudy": "Examens d'imagerie", "Immunization": "Vaccinations",
    "ImmunizationRecommendation": "Recommandations vaccinales", "Invoice": "Factures",
    "List": "Listes", "Location": "Lieux", "Media": "Images et médias",
    "Medication": "Médicaments", "MedicationAdministration": "Administrations de médicaments",
    "MedicationDispense": "Dispensations de médicaments",
    "MedicationRequest": "Prescriptions de médicaments",
    "MedicationStatement": "Traitements déclarés", "NutritionOrder": "Régimes prescrits",
    "Observation": "Observations et résultats", "Organization": "Établissements",
    "Practitioner": "Professionnels de santé", "PractitionerRole": "Fonctions des professionnels",
    "Procedure": "Actes et interventions", "Provenance": "Provenance des données",
    "Questionnaire": "Questionnaires", "QuestionnaireResponse": "Questionnaires remplis",
    "RelatedPerson": "Proches", "RiskAssessment": "Évaluations de risque",
    "ServiceRequest": "Demandes d'examens ou d'actes", "Specimen": "Prélèvements",
    "SupplyDelivery": "Livraisons de fournitures", "SupplyRequest": "Demandes de fournitures",
    "Task": "Tâches", "VisionPrescription": "Prescriptions optiques",
    "Unknown": "Éléments de type inconnu",
}

# statuses of CarePlan, Goal, activities, Procedure, Immunization, Device(UseStatement),
# Condition, orders... as one French word each
STATUS = {
    "active": "en cours", "completed": "terminé", "stopped": "arrêté", "cancelled": "annulé",
    "revoked": "révoqué", "on-hold": "suspendu", "draft": "brouillon", "unknown": "",
    "not-done": "non fait", "in-progress": "en cours", "preparation": "en préparation",
    "not-started": "non commencé", "scheduled": "programmé", "entered-in-error": "saisie erronée",
    "proposed": "proposé", "planned": "prévu", "accepted": "accepté", "achieved": "atteint",
    "sustaining": "maintenu", "rejected": "refusé", "intended": "prévu", "inactive": "inactif",
    "resolved": "résolu", "remission": "en rémission", "recurrence": "récidive",
    "relapse": "rechute", "superseded": "remplacé", "ended": "terminé", "finished": "terminé",
    "onleave": "en permission",
    "in-progress-goal": "en cours", "improving": "en amélioration", "worsening": "en aggravation",
    "no-change": "stable", "not-achieved": "non atteint", "no-progress": "sans progrès",
    "not-attainable": "non atteignable", "available": "disponible", "not-present": "absent",
    "refuted": "réfuté", "current": "en vigueur", "unconfirmed": "non confirmé",
}


def type_label(rtype: str) -> str:
    """A resource type in words; a type the station does not know keeps its own name."""
    return TYPE_LABELS.get(rtype, rtype)


def status_label(code: str) -> str:
    return STATUS.get(code, "") if isinstance(code, str) else ""
