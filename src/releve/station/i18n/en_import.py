"""English for what patient search says it found a patient by, beyond en_common.py's."""

EN = {
    "identifiant": "identifier",
    "année de naissance": "year of birth",
}
