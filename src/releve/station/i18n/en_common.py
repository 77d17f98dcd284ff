"""English for the station's shell and every page but the patient summary (en_patient).

Keyed by the French text the templates and code write; see i18n/__init__.py. A test checks that
every `_("...")` of these templates, and every label the code hands to `_`, is here.
"""

EN = {
    # base.html: header, banners, footer
    "Aller au contenu": "Skip to content",
    "poste de secours": "downtime station",
    "Navigation principale": "Main navigation",
    "Services": "Wards",
    "Patients": "Patients",
    "Annuaire": "Directory",
    "Bloc": "OR",
    "Journal d'audit": "Audit log",
    "Rechercher un patient": "Find a patient",
    "Rechercher": "Search",
    "Se déconnecter": "Sign out",
    "Mode dégradé déclaré depuis le {when}": "Downtime declared since {when}",
    "Aucune donnée : cette station n'a pas encore été synchronisée.":
        "No data: this station has not been synchronised yet.",
    "Attention, données anciennes : à jour du {day} à {time} ({ago}).":
        "Warning, old data: as of {day} at {time} ({ago}).",
    "Vérifiez toute information critique auprès de l'équipe.":
        "Check any critical information with the team.",
    "Données à jour du {day} à {time} ({ago})": "Data as of {day} at {time} ({ago})",
    "La dernière synchronisation a échoué ; la station affiche son dernier état vérifié.":
        "The last synchronisation failed; the station shows its last verified state.",
    "Dernière synchronisation réussie : {when}.": "Last successful synchronisation: {when}.",
    "Cause : {reason}": "Reason: {reason}",
    "Segment {seq} retenu, non appliqué : il supprimerait trop de données.":
        "Segment {seq} held, not applied: it would remove too much data.",
    "La station garde son état précédent jusqu'à ce qu'un administrateur le vérifie et "
    "l'accepte (releve station accept).":
        "The station keeps its previous state until an administrator checks and accepts it "
        "(releve station accept).",
    "Segment {seq} illisible : les mises à jour sont suspendues jusqu'au prochain point de "
    "reprise du coffre.":
        "Segment {seq} unreadable: updates are suspended until the vault's next checkpoint.",
    "La station garde son dernier état vérifié.": "The station keeps its last verified state.",
    "Consultation en lecture seule ; chaque consultation est tracée.":
        "Read-only access; every view is audited.",
    "Page générée le {when}.": "Page generated on {when}.",
    # roles
    "Infirmier·ère": "Nurse",
    "Médecin": "Physician",
    "Pharmacien·ne": "Pharmacist",
    "Cellule de crise": "Crisis cell",
    "Secrétaire": "Secretary",
    "Administrateur·rice": "Administrator",
    # login.html
    "Connexion": "Sign in",
    "Votre session a expiré après une période d'inactivité. Reconnectez-vous.":
        "Your session expired after a period of inactivity. Please sign in again.",
    "Identifiant ou mot de passe incorrect.": "Wrong user name or password.",
    "Trop d'échecs de connexion : la connexion est bloquée pendant {minutes} min. Réessayez "
    "plus tard ou prévenez l'informatique.":
        "Too many failed sign-ins: signing in is blocked for {minutes} min. Try again later "
        "or tell IT.",
    "Aucun compte n'existe encore sur cette station. L'informatique en crée un avec la commande :":
        "No account exists on this station yet. IT creates one with the command:",
    "Identifiant": "User name",
    "Mot de passe": "Password",
    "Se connecter": "Sign in",
    "Poste partagé : pensez à vous déconnecter en quittant le poste.":
        "Shared computer: remember to sign out when you leave it.",
    # error.html and the error messages (app.ERRORS)
    "Code {status}": "Code {status}",
    "Retour à la liste des services": "Back to the list of wards",
    "Aller à la connexion": "Go to sign in",
    "Page introuvable": "Page not found",
    "Cette page n'existe pas sur la station. Vérifiez l'adresse, ou repartez de la liste des services.":
        "This page does not exist on the station. Check the address, or start again from the list of wards.",
    "Requête invalide": "Invalid request",
    "La page demandée n'est pas valide.": "The page asked for is not valid.",
    "Date invalide": "Invalid date",
    "Cette date n'est pas valide. Choisissez un jour au format AAAA-MM-JJ.":
        "This date is not valid. Choose a day written YYYY-MM-DD.",
    "Service introuvable": "Ward not found",
    "Ce service n'existe pas dans les données de la station.":
        "This ward does not exist in the station's data.",
    "Accès réservé": "Restricted",
    "Cette page est réservée aux administrateurs de la station.":
        "This page is for the station's administrators only.",
    "Pas encore de données": "No data yet",
    "Cette station n'a encore reçu aucune donnée du coffre. Elle sera utilisable après sa "
    "première synchronisation (commande : releve station sync). Prévenez l'informatique si "
    "ce message reste affiché.":
        "This station has not received any data from the vault yet. It becomes usable after "
        "its first synchronisation (command: releve station sync). Tell IT if this message "
        "stays on screen.",
    "Service indisponible": "Unavailable",
    "Cette page est momentanément indisponible.": "This page is unavailable for the moment.",
    "Erreur de la station": "Station error",
    "La page n'a pas pu être affichée. Réessayez ; si l'erreur persiste, prévenez "
    "l'informatique en indiquant l'heure.":
        "The page could not be shown. Try again; if the error persists, tell IT the time it happened.",
    "Erreur": "Error",
    "La page n'a pas pu être affichée.": "The page could not be shown.",
    # wards.html
    "Les données de la station ne décrivent aucun service ni aucun lit occupé.":
        "The station's data describe no ward and no occupied bed.",
    "Service": "Ward",
    "Lits occupés": "Occupied beds",
    "Patients présents": "Patients present",
    "Téléphone": "Phone",
    "{occupied} sur {beds}": "{occupied} of {beds}",
    "sans lit": "no beds",
    # ward.html
    "F": "F",
    "H": "M",
    "Autre": "Other",
    "Risque de chute": "Fall risk",
    "Isolement": "Isolation",
    "Ne pas réanimer": "Do not resuscitate",
    "Allergie grave": "Severe allergy",
    "ALLERGIE": "ALLERGY",
    "Allergie : {names}": "Allergy: {names}",
    "Aucune allergie connue": "No known allergy",
    "entrée prévue": "admission planned",
    "permission": "on leave",
    "Patient": "Patient",
    "Sexe": "Sex",
    "Âge": "Age",
    "Entrée": "Admitted",
    "Médecin responsable": "Attending physician",
    "Allergies": "Allergies",
    "Alertes": "Alerts",
    "Régime": "Diet",
    "{occupied} lits occupés sur {beds}": "{occupied} of {beds} beds occupied",
    "Poste du service": "Ward extension",
    "Lit": "Bed",
    "Lit fermé": "Bed closed",
    "Libre, bionettoyage en cours": "Free, being cleaned",
    "Libre, contaminé": "Free, contaminated",
    "Libre, isolé": "Free, isolated",
    "Libre": "Free",
    "Aucun lit ni aucun patient présent dans ce service d'après les données.":
        "According to the data, this ward has no beds and no patients.",
    "Patients du service sans lit attribué": "Patients of the ward with no bed assigned",
    "Lieu": "Location",
    # patients.html
    "{n} résultat(s) pour « {q} »": "{n} result(s) for “{q}”",
    "affinez la recherche pour en voir d'autres": "refine the search to see others",
    "Naissance": "Born",
    "IPP": "MRN",
    "INS": "INS",
    "Lieu actuel": "Current location",
    "non hospitalisé": "not in hospital",
    "trouvé par : {why}": "found by: {why}",
    "nom": "name",
    "nom approché": "similar name",
    "date de naissance": "birth date",
    "lit": "bed",
    "Aucun patient trouvé pour « {q} ».": "No patient found for “{q}”.",
    "Essayez le nom seul, la date de naissance ou l'IPP.":
        "Try the family name alone, the birth date or the MRN.",
    # directory.html
    "DECT / mobile": "DECT / mobile",
    "Poste": "Extension",
    "Ligne directe": "Direct line",
    "Bip": "Pager",
    "Fax": "Fax",
    "Tél.": "Phone",
    "Annuaire téléphonique": "Phone directory",
    "Nom, fonction ou service": "Name, role or ward",
    "Chercher": "Search",
    "Personne ne correspond à « {q} ».": "Nobody matches “{q}”.",
    "Téléphones": "Phones",
    "Personnes": "People",
    "Nom": "Name",
    "Fonction": "Role",
    "Spécialité": "Specialty",
    "{n} autres personnes : affinez la recherche.": "{n} more people: refine the search.",
    # or.html
    "Bloc opératoire": "Operating rooms",
    "Programme du bloc": "OR schedule",
    "Changer de jour": "Change day",
    "Jour précédent": "Previous day",
    "Aujourd'hui": "Today",
    "Jour suivant": "Next day",
    "Date": "Date",
    "Afficher": "Show",
    "Aucune intervention programmée ce jour d'après les données.":
        "According to the data, no procedure is booked on this day.",
    "Salle non précisée": "Room not given",
    "Heure": "Time",
    "Intervention": "Procedure",
    "Chirurgien": "Surgeon",
    "Anesthésiste": "Anaesthetist",
    "Statut": "Status",
    "Programmé": "Booked",
    "Arrivé": "Arrived",
    "Enregistré": "Checked in",
    "Réalisé": "Done",
    "Annulé": "Cancelled",
    "Absent": "No-show",
    "En attente": "Pending",
    "Proposé": "Proposed",
    "Liste d'attente": "Waiting list",
    "Erreur de saisie": "Entered in error",
    # audit.html
    "Qui a consulté quoi, et quand. Le journal est chaîné : aucune entrée ne peut être "
    "modifiée ni effacée sans que cela se voie.":
        "Who viewed what, and when. The log is chained: no entry can be changed or deleted "
        "without it showing.",
    "Utilisateur": "User",
    "Patient (identifiant)": "Patient (id)",
    "Filtrer": "Filter",
    "Vérifier la chaîne": "Verify the chain",
    "Chaîne vérifiée : {n} entrées intactes.": "Chain verified: {n} entries intact.",
    "Le journal a été altéré :": "The log has been tampered with:",
    "N°": "No.",
    "Date et heure": "Date and time",
    "Action": "Action",
    "Page": "Page",
    "Détail": "Detail",
    "Aucune entrée.": "No entries.",
    "Pages du journal": "Log pages",
    "Plus récentes": "Newer",
    "Page {n}": "Page {n}",
    "Plus anciennes": "Older",
    "consultation": "view",
    "recherche": "search",
    "connexion": "sign-in",
    "échec de connexion": "failed sign-in",
    "connexion bloquée": "sign-in blocked",
    "tentatives pendant le blocage": "tries while blocked",
    "déconnexion": "sign-out",
    "impression": "print",
    "bris de glace": "break-glass",
    "déclaration du mode dégradé": "downtime declared",
    "fin du mode dégradé": "downtime ended",
    "création de compte": "account created",
    "services du compte": "account's wards",
    "déblocage du compte": "account unlocked",
    "Accès hors de leurs services (bris de glace)": "Openings outside their wards (break-glass)",
    "{n} patients": "{n} patients",
    # break_glass.html
    "Patient hors de vos services": "Patient outside your wards",
    "Ce patient n'est dans aucun des services de votre compte. Vous pouvez ouvrir son dossier "
    "en indiquant pourquoi : votre accès et sa raison sont inscrits au journal d'audit.":
        "This patient is in none of your account's wards. You may open their record by saying "
        "why: your access and its reason go in the audit log.",
    "Choisissez une raison ; pour « autre », écrivez-la en quelques mots.":
        "Choose a reason; for \u201cother\u201d, write it in a few words.",
    "Urgence vitale": "Life-threatening emergency",
    "Transfert": "Transfer",
    "Autre raison": "Other reason",
    "Ouvrir le dossier": "Open the record",
    "Service hors des vôtres": "Ward outside yours",
    "Ce service n'est pas l'un de ceux de votre compte. Vous pouvez ouvrir la liste de ses "
    "patients en indiquant pourquoi : votre accès et sa raison sont inscrits au journal d'audit.":
        "This ward is not one of your account's wards. You may open its list of patients by "
        "saying why: your access and its reason go in the audit log.",
    "Ouvrir la liste du service": "Open the ward's census",
    # print buttons of the census, OR and directory pages (the printouts: en_print.py)
    "Imprimer": "Print",
    "Imprimer les plans d'administration du service": "Print the ward's MAR",
    "Imprimer la liste des patients": "Print the census", "Formulaires vierges": "Blank forms",
    "Imprimer le programme": "Print the schedule", "Imprimer l'annuaire": "Print the directory",
}
