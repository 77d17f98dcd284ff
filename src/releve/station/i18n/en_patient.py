"""English for the patient summary (templates/web/patient.html, station/views/summary labels,
web/patient.py messages), keyed by the French text the page writes."""

EN = {
    # header and allergies
    "Né(e) le": "Born", "inconnue": "unknown", "Sexe": "Sex", "Décédé(e)": "Deceased",
    "Chambre": "Room", "Lit": "Bed",  # "Service": en_common's, as on every page
    "Allergies et intolérances": "Allergies and intolerances", "gravité": "severity",
    "criticité": "criticality", "non confirmée": "unconfirmed",
    "Allergies non renseignées": "Allergies not recorded",
    "demander au patient ou à sa famille avant toute administration.":
        "ask the patient or their family before giving anything.",
    # cards
    "Groupe sanguin": "Blood group", "Déterminé le {when}": "Typed on {when}",
    "Aucun groupe sanguin enregistré": "No blood group recorded", "Alertes": "Alerts",
    "Aucune alerte": "No alert", "Régime": "Diet", "Aucun régime prescrit": "No diet ordered",
    "Séjour en cours": "Current stay", "Type": "Type", "Entrée": "Admitted",
    "Médecin responsable": "Attending physician", "Motif": "Reason",
    "Téléphone du service": "Unit phone", "Pas de séjour en cours": "No current stay",
    # medications
    "Traitements en cours": "Active medications",
    "plan des prochaines 24 h à partir de {time}": "plan for the next 24 h from {time}",
    "Médicament": "Medication", "Dose et voie": "Dose and route", "Prescription": "Order",
    "Prochaines prises (24 h)": "Next doses (24 h)", "Données ces dernières 24 h": "Given in the last 24 h",
    "jusqu'au {when}": "until {when}", "j+{n}": "d+{n}", "aucune prise prévue": "no dose due",
    "non fait": "not done", "Si besoin": "As needed", "si besoin": "as needed",
    "Aucun traitement actif enregistré": "No active medication recorded",
    "Plan d'administration des prochaines 24 h": "Administration plan for the next 24 h",
    "Heure": "Time", "Fait (initiales)": "Done (initials)",
    "Administrations des dernières 24 h": "Administrations in the last 24 h", "Dose": "Dose",
    "Statut": "Status", "Par": "By",
    "Aucune administration enregistrée ces dernières 24 h": "No administration recorded in the last 24 h",
    # vitals and results
    "Signes vitaux": "Vital signs", "Mesure": "Measure", "Dernière valeur": "Latest value",
    "Le": "On", "Tendance": "Trend", "Précédentes": "Previous",
    "Aucun signe vital enregistré": "No vital sign recorded", "Résultats": "Results",
    "Examen": "Test", "Normes": "Reference range", "Aucun résultat enregistré": "No result recorded",
    # oncology
    "Oncologie": "Oncology", "Chimiothérapie": "Chemotherapy", "Radiothérapie": "Radiotherapy",
    "Prochaine cure : {n} sur {total}": "Next cycle: {n} of {total}",
    "{done} cures réalisées sur {total}": "{done} of {total} cycles given",
    "Prochaine séance : fraction {n} sur {total}": "Next session: fraction {n} of {total}",
    "{done} fractions délivrées sur {total}": "{done} of {total} fractions delivered",
    "{done} réalisée(s) sur {total}": "{done} of {total} done", "dernière le {when}": "last on {when}",
    # upcoming, problems, documents, team, contact
    "Interventions et rendez-vous à venir": "Upcoming procedures and appointments",
    "Date": "Date", "Acte": "Procedure", "Intervenants": "Staff",
    "date non précisée": "date not given",
    "Aucune intervention ni rendez-vous à venir": "No upcoming procedure or appointment",
    "Problèmes actifs": "Active problems", "depuis le {when}": "since {when}",
    "Aucun problème actif enregistré": "No active problem recorded", "Documents": "Documents",
    "Titre": "Title", "Auteur": "Author", "Aucun document": "No document",
    "Équipe soignante": "Care team", "Aucun intervenant enregistré": "No care team recorded",
    "Coordonnées": "Contact details", "Adresse": "Address", "Téléphone": "Phone",
    "Autres noms": "Other names", "Personnes à prévenir": "Emergency contacts",
    "Autres éléments": "Other items",
    "imprimé depuis le poste de secours ; vérifier l'âge des données en tête de page":
        "printed from the downtime station; check the age of the data at the top of the page",
    # views/summary labels
    "Femme": "Female", "Homme": "Male", "Autre": "Other", "Inconnu": "Unknown",
    "Non renseigné": "Not recorded", "Élevée": "High", "Faible": "Low",
    "Non évaluable": "Unable to assess", "Sévère": "Severe", "Modérée": "Moderate",
    "Légère": "Mild", "Aliment": "Food", "Environnement": "Environment",
    "Produit biologique": "Biologic", "Allergie": "Allergy", "Intolérance": "Intolerance",
    "Active": "Active", "Suspendue": "On hold", "Administré": "Given",
    "Non administré": "Not given", "En cours": "In progress", "Suspendu": "On hold",
    "Arrêté": "Stopped", "Saisie erronée": "Entered in error",
    "Médecin admettant": "Admitting physician", "Intervenant principal": "Primary performer",
    "Intervenant": "Performer", "Consultant": "Consultant", "Médecin adresseur": "Referring physician",
    "Médecin de sortie": "Discharging physician", "Participant": "Participant",
    "Médecin traitant": "General practitioner", "Équipe": "Team",
    "Hospitalisation": "Inpatient", "Urgences": "Emergency", "Ambulatoire": "Outpatient",
    "Hospitalisation de jour": "Day hospital", "Observation": "Observation",
    "Hospitalisation à domicile": "Home hospitalisation", "Pré-admission": "Pre-admission",
    "Téléconsultation": "Teleconsultation", "Biologie": "Laboratory", "Imagerie": "Imaging",
    "Actes": "Procedures", "Examen clinique": "Clinical examination", "Questionnaires": "Surveys",
    "Mode de vie": "Social history", "Thérapies": "Therapies", "Activité": "Activity",
    "Autres résultats": "Other results", "Problème": "Problem",
    "Diagnostic du séjour": "Stay diagnosis", "Température": "Temperature", "Pouls": "Pulse",
    "Pression artérielle": "Blood pressure",
    "Pression artérielle systolique": "Systolic blood pressure",
    "Pression artérielle diastolique": "Diastolic blood pressure", "SpO2": "SpO2",
    "Fréquence respiratoire": "Respiratory rate", "Poids": "Weight",
    "Douleur (0-10)": "Pain (0-10)", "Taille": "Height", "IMC": "BMI",
    "Glycémie capillaire": "Capillary glucose",
    # web/patient.py messages
    "Dossier introuvable": "Record not found",
    "Aucun patient de ce numéro dans les données de la station. Repartez de la recherche "
    "ou de la liste des services.":
        "No patient with this number in the station's data. Start again from the search or the list of units.",
    "Document introuvable": "Document not found",
    "Ce document n'existe pas dans le dossier de ce patient.": "This document is not in this patient's record.",
    "Pas encore de données": "No data yet",
    "Cette station n'a encore reçu aucune donnée du coffre. Elle sera utilisable après sa "
    "première synchronisation (commande : releve station sync).":
        "This station has not received any data from the vault yet. It can be used after its "
        "first synchronisation (command: releve station sync).",
}
