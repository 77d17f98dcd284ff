"""The French labels the summary gives to FHIR codes (the pages translate them: see
i18n/en_patient.py)."""

from __future__ import annotations

SEX = {"female": "Femme", "male": "Homme", "other": "Autre", "unknown": "Inconnu"}
CRITICALITY = {"high": "Élevée", "low": "Faible", "unable-to-assess": "Non évaluable"}
SEVERITY = {"severe": "Sévère", "moderate": "Modérée", "mild": "Légère"}
ALLERGY_CATEGORY = {"medication": "Médicament", "food": "Aliment", "environment": "Environnement",
                    "biologic": "Produit biologique"}
ALLERGY_TYPE = {"allergy": "Allergie", "intolerance": "Intolérance"}
ORDER_STATUS = {"active": "Active", "on-hold": "Suspendue"}
ADMIN_STATUS = {"completed": "Administré", "not-done": "Non administré",
                "in-progress": "En cours", "on-hold": "Suspendu", "stopped": "Arrêté",
                "entered-in-error": "Saisie erronée", "unknown": "Inconnu"}
ROLE = {"ATND": "Médecin responsable", "ADM": "Médecin admettant", "PPRF": "Intervenant principal",
        "SPRF": "Intervenant", "CON": "Consultant", "REF": "Médecin adresseur",
        "DIS": "Médecin de sortie", "PART": "Participant", "attender": "Médecin responsable"}
CLASS = {"IMP": "Hospitalisation", "EMER": "Urgences", "AMB": "Ambulatoire",
         "ACUTE": "Hospitalisation", "SS": "Hospitalisation de jour", "OBSENC": "Observation",
         "HH": "Hospitalisation à domicile", "PRENC": "Pré-admission", "VR": "Téléconsultation"}
RESULT_GROUP = {"laboratory": "Biologie", "imaging": "Imagerie", "procedure": "Actes",
                "exam": "Examen clinique", "survey": "Questionnaires",
                "social-history": "Mode de vie", "therapy": "Thérapies", "activity": "Activité",
                "vital-signs": "Signes vitaux", "": "Autres résultats"}


