"""English for the rest of the chart (templates/web/patient_chart.html, patient_document.html,
fhir.clinical.code_status labels, views/summary/chart_labels.py), keyed by the French
text the page writes."""

EN = {
    # deceased, code status
    "Patient décédé": "Deceased", "le {when}": "on {when}", "à {age}": "aged {age}",
    "Statut de réanimation et directives anticipées": "Code status and advance directives",
    "Aucune limitation de soins ni directive anticipée enregistrée":
        "No limitation of care or advance directive recorded",

    "Limitation des thérapeutiques actives (LATA)": "Limitation of active treatment",
    "Prescriptions médicales anticipées (POLST)": "Portable medical orders (POLST)",
    "Directives anticipées": "Advance directives",
    "Mandataire de santé / personne de confiance": "Healthcare proxy / trusted person",
    "Consentement": "Consent", "Alerte": "Alert", "Document": "Document",
    "ouvrir le document": "open the document",
    # care plans, history, devices
    "Plans de soins et objectifs": "Care plans and goals", "Objectifs": "Goals",
    "Activités": "Activities", "d'ici le {when}": "by {when}",
    "Aucun plan de soins en cours": "No care plan in progress",
    "Objectifs de soins": "Care goals", "Plan de soins": "Care plan",
    "Vaccinations": "Immunizations", "Aucune vaccination enregistrée": "No immunization recorded",
    "Actes et interventions": "Procedures", "Aucun acte enregistré": "No procedure recorded",
    "{n} de plus": "{n} more", "date inconnue": "date unknown",
    "Dispositifs et abords en place": "Devices and lines in place",
    "Abord / drain": "Line / drain", "posé le {when}": "placed on {when}",
    "Aucun dispositif enregistré": "No device recorded",
    # others
    "Non affichés dans les rubriques ci-dessus (terminés, arrêtés, inactifs)":
        "Not shown in the sections above (completed, stopped, inactive)",
    "{n} élément(s) marqué(s) comme saisi(s) par erreur dans le SIH, non affiché(s)":
        "{n} item(s) marked entered-in-error in the HIS, not shown",
    # the document page
    "Retour au dossier du patient": "Back to the patient's record",
    "Ouvrir le PDF seul": "Open the PDF alone",
    "Ce document n'est pas enregistré sur la station ; il est à l'adresse :":
        "This document is not stored on the station; it is at:",
    "adresse consultable seulement quand le système d'information est disponible":
        "reachable only while the hospital information system is up",
    "Ce type de document ({type}) ne s'affiche pas dans la station.":
        "This kind of document ({type}) is not shown by the station.",
    "Télécharger le fichier": "Download the file",
    # statuses (chart_labels.STATUS)
    "en cours": "ongoing", "terminé": "completed", "arrêté": "stopped", "annulé": "cancelled",
    "révoqué": "revoked", "suspendu": "on hold", "brouillon": "draft",
    "en préparation": "in preparation", "non commencé": "not started", "programmé": "scheduled",
    "saisie erronée": "entered in error", "proposé": "proposed", "prévu": "planned",
    "accepté": "accepted", "atteint": "achieved", "maintenu": "sustaining", "refusé": "rejected",
    "inactif": "inactive", "résolu": "resolved", "en rémission": "in remission",
    "récidive": "recurrence", "rechute": "relapse", "remplacé": "superseded",
    "en amélioration": "improving", "en aggravation": "worsening", "stable": "no change",
    "non atteint": "not achieved", "sans progrès": "no progress",
    "non atteignable": "not attainable", "disponible": "available", "absent": "not present",
    "en permission": "on leave", "réfuté": "refuted", "non en vigueur": "not in force",
    "en vigueur": "current", "non confirmé": "unconfirmed",
    # resource types (chart_labels.TYPE_LABELS)
    "Comptes": "Accounts", "Événements indésirables": "Adverse events",
    "Rendez-vous": "Appointments", "Traces d'accès": "Audit events",
    "Éléments divers": "Other items", "Fichiers": "Files", "Sites anatomiques": "Body structures",
    "Plans de soins": "Care plans", "Équipes soignantes": "Care teams",
    "Actes facturables": "Charge items", "Demandes de remboursement": "Claims",
    "Réponses aux demandes de remboursement": "Claim responses",
    "Synthèses cliniques": "Clinical impressions", "Communications": "Communications",
    "Demandes de communication": "Communication requests",
    "Documents structurés": "Structured documents",
    "Consentements": "Consents", "Couvertures (assurance)": "Insurance coverage",
    "Problèmes détectés": "Detected issues", "Dispositifs médicaux": "Devices",
    "Demandes de dispositifs": "Device requests",
    "Utilisations de dispositifs": "Device use statements", "Comptes rendus": "Reports",
    "Séjours et venues": "Encounters",
    "Épisodes de soins": "Episodes of care", "Décomptes de remboursement": "Explanations of benefit",
    "Antécédents familiaux": "Family history",
    "Examens d'imagerie": "Imaging studies", "Recommandations vaccinales": "Immunization recommendations",
    "Factures": "Invoices", "Listes": "Lists", "Lieux": "Locations", "Images et médias": "Media",
    "Médicaments": "Medications", "Administrations de médicaments": "Medication administrations",
    "Dispensations de médicaments": "Medication dispenses",
    "Prescriptions de médicaments": "Medication orders",
    "Traitements déclarés": "Medication statements", "Régimes prescrits": "Nutrition orders",
    "Observations et résultats": "Observations and results", "Établissements": "Organizations",
    "Professionnels de santé": "Practitioners", "Fonctions des professionnels": "Practitioner roles",
    "Provenance des données": "Provenance",
    "Questionnaires remplis": "Questionnaire responses", "Proches": "Related persons",
    "Évaluations de risque": "Risk assessments",
    "Demandes d'examens ou d'actes": "Service requests", "Prélèvements": "Specimens",
    "Livraisons de fournitures": "Supply deliveries", "Demandes de fournitures": "Supply requests",
    "Tâches": "Tasks", "Prescriptions optiques": "Vision prescriptions",
    "Éléments de type inconnu": "Items of an unknown type",

}
