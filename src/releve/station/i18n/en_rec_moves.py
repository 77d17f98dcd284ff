"""English for the downtime entries: moves (see i18n/__init__.py)."""

EN: dict[str, str] = {
    # the census and the patient header
    "admis en mode dégradé": "admitted during downtime",
    "transféré en mode dégradé": "transferred during downtime",
    "doublon probable": "probable duplicate",
    "Doublon probable": "Probable duplicate",
    "voir l'autre dossier": "see the other record",
    "IPP de mode dégradé": "Downtime patient number",
    "Mouvements": "Movements",
    "Admissions": "Admissions",
    "Admettre un patient": "Admit a patient",
    "Admettre ici": "Admit here",
    "Sorties et décès pendant le mode dégradé": "Discharges and deaths during downtime",
    "sorti(e)": "discharged",
    "décédé(e)": "deceased",
    "Étiquettes numérotées": "Numbered labels",
    "Imprimer (réserve les numéros)": "Print (reserves the numbers)",
    "Fiche d'admission vierge numérotée": "Blank numbered admission form",
    "Numéros de mode dégradé bientôt épuisés ({what}) : {used} utilisés sur {total}.":
        "Downtime numbers running out ({what}): {used} used of {total}.",
    "Un administrateur doit attribuer une nouvelle plage : releve station identifiers.":
        "An administrator must assign a new range: releve station identifiers.",
    "séjours": "stays",
    # the forms
    "Admission en mode dégradé": "Downtime admission",
    "Numéros qui seront attribués : IPP {ipp}, séjour {stay} (sauf si vous saisissez ceux "
    "d'une étiquette imprimée).": "Numbers to be given: patient {ipp}, stay {stay} (unless you "
                                  "type those of a printed label).",
    "L'admission n'est pas enregistrée : corrigez les champs signalés.":
        "The admission is not recorded: correct the fields marked.",
    "Rien n'est enregistré : corrigez les champs signalés.":
        "Nothing is recorded: correct the fields marked.",
    "Prénoms": "Given names",
    "JJ/MM/AAAA": "DD/MM/YYYY",
    "INS (matricule INS, 15 caractères)": "INS (national health number, 15 characters)",
    "facultatif": "optional",
    "Type de séjour": "Kind of stay",
    "Lit (lits libres du service)": "Bed (the ward's free beds)",
    "Heure d'arrivée": "Time of arrival",
    "HH:MM, vide = maintenant": "HH:MM, empty = now",
    "IPP de l'étiquette": "Patient number on the label",
    "si le patient a une fiche papier pré-étiquetée": "if the patient has a pre-labelled paper form",
    "N° de séjour de l'étiquette": "Stay number on the label",
    "Enregistrer l'admission": "Record the admission",
    "Enregistrer : {what}": "Record: {what}",
    "Voir les lits libres de ce service": "Show this ward's free beds",
    "Nouveau lit": "New bed",
    "Mode de sortie": "Discharge disposition",
    "Je confirme le décès de ce patient": "I confirm this patient's death",
    "Retour au dossier": "Back to the record",
    "Transfert": "Transfer",
    "Sortie": "Discharge",
    "Décès": "Death",
    "Féminin": "Female",
    "Masculin": "Male",
    "hospitalisation complète": "inpatient stay",
    "urgences": "emergency",
    "Retour à domicile": "Home",
    "Transfert vers un autre établissement": "Transfer to another hospital",
    "Soins de suite et de réadaptation": "Rehabilitation care",
    "Sortie contre avis médical": "Left against medical advice",
    # the movements' own problems (journal/kinds/movement.py; the shared ones: en_journal)
    "Cette date est dans le futur.": "This date is in the future.",
    "Date invalide : écrivez JJ/MM/AAAA.": "Invalid date: write DD/MM/YYYY.",
    "Date de naissance trop ancienne.": "Birth date too far back.",
    "INS invalide : 15 chiffres dont une clé de 2 chiffres (vérifiez la saisie).":
        "Invalid INS: 15 digits including a 2-digit key (check what was typed).",
    "Le patient est déjà dans ce lit.": "The patient is already in this bed.",
    "Cochez la case pour confirmer le décès.": "Tick the box to confirm the death.",
    "Le patient n'a pas d'IPP (identifiant de type PI).": "The patient has no patient number (identifier of type PI).",
    "Un mouvement est un Patient ou un Encounter.": "A movement is a Patient or an Encounter.",
    "Un séjour est « in-progress » ou « finished ».": "A stay is “in-progress” or “finished”.",
    "Le séjour n'est pas celui de ce patient.": "The stay is not this patient's.",
    "Le séjour n'a pas de début.": "The stay has no start.",
    "Un séjour en cours a un lit.": "A stay in progress has a bed.",
    "Un séjour terminé a une fin.": "A finished stay has an end.",
    "Les numéros de mode dégradé de cette station sont épuisés : aucune admission ne peut "
    "recevoir de numéro. Un administrateur doit attribuer une nouvelle plage (releve station "
    "identifiers --station DOSSIER --ipp DEBUT-FIN --stay DEBUT-FIN).":
        "This station's downtime numbers are used up: no admission can get a number. An "
        "administrator must assign a new range (releve station identifiers --station FOLDER "
        "--ipp FROM-TO --stay FROM-TO).",
    "Ce numéro n'appartient pas aux plages de cette station.": "This number is not in this station's ranges.",
    "Ce numéro a déjà été attribué à un patient.": "This number was already given to a patient.",
    "Ce numéro n'a pas été imprimé sur une étiquette : laissez le champ vide pour prendre le "
    "numéro suivant.": "This number was not printed on a label: leave the field empty to take the next one.",
    # paper
    "ADMISSION MODE DÉGRADÉ": "DOWNTIME ADMISSION",
    "Numéros de mode dégradé": "Downtime numbers",
    "N° de séjour": "Stay number",
    "Fiche d'admission de mode dégradé": "Downtime admission form",
    "Hospitalisation ou urgences": "Inpatient or emergency",
    "Ces numéros sont réservés à ce formulaire : à saisir tels quels sur la station (champs « IPP "
    "de l'étiquette » et « N° de séjour de l'étiquette »).":
        "These numbers are reserved for this form: type them as they are on the station (fields "
        "“Patient number on the label” and “Stay number on the label”).",
    # views/search/admitted.py: why a patient admitted during the downtime was found
    "admission en mode dégradé": "downtime admission",
}
