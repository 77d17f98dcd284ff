"""French names and places for the demo hospital's people.

Lists of common French given names (by the era a person was born in, so that a
90-year-old is not called Kylian), common family names, street names and the towns
around a fictional hospital in the south-west (real towns, real postcodes: a station's
address search and its labels must look like the ones a ward clerk knows).
Phone numbers come from the ranges ARCEP reserves for fiction, so no real line is ever
printed on a demo wristband.
"""

from __future__ import annotations

# Given names by birth era: (born before 1955, 1955-1984, 1985 and after).
MALE_GIVEN: tuple[tuple[str, ...], ...] = (
    ("Jean", "Pierre", "Michel", "André", "René", "Louis", "Roger", "Marcel", "Jacques",
     "Bernard", "Henri", "Georges", "Robert", "Claude", "Raymond", "Paul", "Maurice",
     "Lucien", "Gérard", "Guy", "Marcel", "Albert", "Fernand", "Émile", "Joseph"),
    ("Philippe", "Alain", "Patrick", "Christophe", "Éric", "Thierry", "Laurent", "Pascal",
     "Stéphane", "Frédéric", "Olivier", "Didier", "Dominique", "Sébastien", "Nicolas",
     "Daniel", "Christian", "Jean-Luc", "Jean-Pierre", "Franck", "Vincent", "Bruno",
     "Serge", "Hervé", "David"),
    ("Thomas", "Lucas", "Hugo", "Maxime", "Théo", "Nathan", "Louis", "Enzo", "Léo",
     "Gabriel", "Raphaël", "Arthur", "Jules", "Mathis", "Antoine", "Clément", "Romain",
     "Alexandre", "Quentin", "Adam", "Noah", "Paul", "Baptiste", "Mathéo", "Yanis"),
)
FEMALE_GIVEN: tuple[tuple[str, ...], ...] = (
    ("Marie", "Jeanne", "Monique", "Simone", "Yvette", "Paulette", "Denise", "Madeleine",
     "Suzanne", "Germaine", "Odette", "Colette", "Jacqueline", "Lucienne", "Marguerite",
     "Louise", "Andrée", "Huguette", "Renée", "Raymonde", "Josette", "Geneviève",
     "Gisèle", "Ginette", "Hélène"),
    ("Nathalie", "Isabelle", "Sylvie", "Catherine", "Valérie", "Christine", "Sandrine",
     "Véronique", "Françoise", "Martine", "Brigitte", "Patricia", "Corinne", "Florence",
     "Laurence", "Nadine", "Chantal", "Céline", "Stéphanie", "Karine", "Sophie", "Anne",
     "Muriel", "Virginie", "Dominique"),
    ("Léa", "Manon", "Emma", "Chloé", "Camille", "Inès", "Jade", "Sarah", "Louise",
     "Zoé", "Lola", "Clara", "Lucie", "Juliette", "Alice", "Lina", "Mathilde", "Pauline",
     "Marine", "Océane", "Anaïs", "Justine", "Mila", "Rose", "Ambre"),
)

FAMILY: tuple[str, ...] = (
    "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois",
    "Moreau", "Laurent", "Simon", "Michel", "Lefebvre", "Leroy", "Roux", "David",
    "Bertrand", "Morel", "Fournier", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine",
    "Rousseau", "Vincent", "Muller", "Lefèvre", "Faure", "André", "Mercier", "Blanc",
    "Guérin", "Boyer", "Garnier", "Chevalier", "François", "Legrand", "Gauthier", "Garcia",
    "Perrin", "Robin", "Clément", "Morin", "Nicolas", "Henry", "Roussel", "Mathieu",
    "Gautier", "Masson", "Marchand", "Duval", "Denis", "Dumont", "Marie", "Lemaire",
    "Noël", "Meyer", "Dufour", "Meunier", "Brun", "Blanchard", "Giraud", "Joly",
    "Rivière", "Lucas", "Brunet", "Gaillard", "Barbier", "Arnaud", "Martinez", "Gérard",
    "Roche", "Renard", "Schmitt", "Roy", "Leroux", "Colin", "Vidal", "Caron", "Picard",
    "Roger", "Fabre", "Aubert", "Lemoine", "Renaud", "Dumas", "Lacroix", "Olivier",
    "Philippe", "Bourgeois", "Pierre", "Benoît", "Rey", "Leclerc", "Payet", "Rolland",
    "Guillaume", "Lecomte", "Lopez", "Jean", "Dupuy", "Guillot", "Hubert", "Berger",
    "Carpentier", "Sanchez", "Dupuis", "Moulin", "Louis", "Deschamps", "Huet", "Vasseur",
    "Perez", "Boucher", "Fleury", "Royer", "Klein", "Jacquet", "Adam", "Poirier", "Marty",
    "Aubry", "Guyot", "Carré", "Charles", "Renault", "Charpentier", "Ménard", "Maillard",
    "Baron", "Bertin", "Bailly", "Hervé", "Schneider", "Fernandez", "Le Gall", "Collet",
    "Léger", "Bouvier", "Julien", "Prévost", "Millet", "Perrot", "Daniel", "Le Roux",
    "Cousin", "Germain", "Breton", "Besson", "Langlois", "Rémy", "Le Goff", "Pelletier",
    "Lévêque", "Perrier", "Leblanc", "Barré", "Lebrun", "Marchal", "Weber", "Mallet",
    "Hamon", "Boulanger", "Jacob", "Monnier", "Michaud", "Rodriguez", "Guichard",
    "Gillet", "Étienne", "Tessier", "Chauvin", "Da Silva", "Bouchet", "Lemaître",
    "Maréchal", "Humbert", "Reynaud", "Antoine", "Perret", "Barthélemy", "Cordier",
    "Pichon", "Lejeune", "Gilbert", "Lamy", "Delaunay", "Pasquier", "Laporte",
    # the south-west, where the demo hospital stands
    "Lalanne", "Dufau", "Labat", "Lafitte", "Lacoste", "Dubos", "Ducasse", "Etcheverry",
    "Lartigue", "Dupouy", "Castaing", "Laborde", "Larrieu", "Lasserre", "Darracq",
    "Lamarque", "Dulucq", "Lassalle", "Cazenave", "Barrère", "Haurie", "Saint-Martin",
    "Labarthe", "Pujol", "Garat", "Duprat", "Lannes", "Bordes", "Poublan", "Tauzin",
    # and families from elsewhere, as in any French town
    "Benali", "Haddad", "Bouzid", "Mansouri", "Diallo", "Traoré", "Nguyen", "Tran",
    "Pereira", "Ferreira", "Rossi", "Esposito", "Kaya", "Yilmaz", "Mendy", "Cissé",
)

STREET_KINDS: tuple[str, ...] = (
    "rue", "rue", "rue", "avenue", "allée", "chemin", "impasse", "place", "boulevard",
    "route", "lotissement", "résidence",
)
STREET_NAMES: tuple[str, ...] = (
    "des Lilas", "du Moulin", "de la Gare", "Victor-Hugo", "Jean-Jaurès", "de l'Église",
    "des Écoles", "du Château", "Pasteur", "Gambetta", "de la République",
    "du Général-de-Gaulle", "des Pins", "des Acacias", "de la Fontaine", "du Stade",
    "des Chênes", "de l'Adour", "des Arènes", "Saint-Vincent", "des Tilleuls",
    "du Lavoir", "des Vignes", "de la Poste", "des Platanes", "Jean-Moulin", "Foch",
    "de la Liberté", "des Mimosas", "du Port", "des Landes", "de Chalosse", "du Marensin",
    "des Bruyères", "Georges-Clemenceau", "Lamartine", "des Résiniers", "du Bourg",
    "de la Mairie", "des Cigales", "de Verdun", "du 8-Mai-1945", "Émile-Zola",
    "des Roses", "du Pont", "de Bayonne", "de Pau", "de Bordeaux", "des Sources",
    "des Thermes", "Félix-Arnaudin", "de la Forêt", "des Chasseurs", "du Fronton",
)

# (town, postcode, weight): weight is roughly how many of the hospital's patients live there.
CITIES: tuple[tuple[str, str, int], ...] = (
    ("Dax", "40100", 30), ("Saint-Paul-lès-Dax", "40990", 16), ("Mont-de-Marsan", "40000", 10),
    ("Bayonne", "64100", 6), ("Anglet", "64600", 4), ("Biarritz", "64200", 3),
    ("Peyrehorade", "40300", 5), ("Tartas", "40400", 5), ("Soustons", "40140", 6),
    ("Soorts-Hossegor", "40150", 3), ("Capbreton", "40130", 4),
    ("Saint-Vincent-de-Tyrosse", "40230", 7), ("Mimizan", "40200", 3), ("Orthez", "64300", 3),
    ("Aire-sur-l'Adour", "40800", 2), ("Hagetmau", "40700", 3), ("Saint-Sever", "40500", 3),
    ("Castets", "40260", 3), ("Labenne", "40530", 3), ("Ondres", "40440", 3),
    ("Tarnos", "40220", 4), ("Boucau", "64340", 2), ("Léon", "40550", 2),
    ("Pontonx-sur-l'Adour", "40465", 3), ("Montfort-en-Chalosse", "40380", 2),
    ("Pouillon", "40350", 3), ("Rion-des-Landes", "40370", 2), ("Linxe", "40260", 1),
    ("Magescq", "40140", 2), ("Seignosse", "40510", 2), ("Vieux-Boucau-les-Bains", "40480", 1),
    ("Moliets-et-Maa", "40660", 1), ("Habas", "40290", 1), ("Mugron", "40250", 2),
    ("Morcenx-la-Nouvelle", "40110", 2), ("Saint-Geours-de-Maremne", "40230", 2),
    ("Bordeaux", "33000", 2), ("Pau", "64000", 2), ("Toulouse", "31000", 1),
    ("Paris", "75015", 1),
)

# Departments of birth for the NIR (01-95 without Corsica: its 2A/2B codes would need
# special handling for the key; 99 is "born abroad").
BIRTH_DEPARTMENTS: tuple[tuple[int, int], ...] = (
    (40, 40), (64, 14), (33, 10), (31, 4), (47, 3), (32, 3), (65, 2), (75, 4), (92, 2),
    (69, 2), (13, 2), (59, 2), (44, 1), (35, 1), (67, 1), (34, 1), (24, 2), (17, 1),
    (87, 1), (63, 1), (99, 5),
)

# Phone numbers reserved by ARCEP for works of fiction: landlines of the south-west
# region (05 36 49 xx xx) and mobiles (06 39 98 xx xx).
FICTION_LANDLINE = "05 36 49"
FICTION_MOBILE = "06 39 98"

# Emergency contacts: (French relationship, v3-RoleCode, sex of the contact, generation:
# -1 older than the patient, 0 same, 1 younger).
RELATIONS: tuple[tuple[str, str, str, int], ...] = (
    ("Épouse", "WIFE", "female", 0), ("Époux", "HUSB", "male", 0),
    ("Fille", "DAU", "female", 1), ("Fils", "SON", "male", 1),
    ("Mère", "MTH", "female", -1), ("Père", "FTH", "male", -1),
    ("Sœur", "SIS", "female", 0), ("Frère", "BRO", "male", 0),
    ("Amie", "FRND", "female", 0), ("Voisin", "NBOR", "male", 0),
)
