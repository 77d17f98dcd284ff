"""Who a patient is: French identity, INS, address, emergency contact.

The INS is a NIR of 13 digits with its 2-digit key (97 - NIR mod 97), under the ANS
*test* OID: it looks and checks like the real thing, so wristbands and identity checks
on a station behave as in production, yet it can never designate a real person.
Corsican births (2A/2B, whose key uses 19/18) are not generated.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from . import build as b
from .names import (
    BIRTH_DEPARTMENTS,
    CITIES,
    FAMILY,
    FEMALE_GIVEN,
    FICTION_LANDLINE,
    FICTION_MOBILE,
    MALE_GIVEN,
    RELATIONS,
    STREET_KINDS,
    STREET_NAMES,
)
from .site import ORG_ID, ORG_NAME

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
V2_0131 = "http://terminology.hl7.org/CodeSystem/v2-0131"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
# Age bands of an MPI (years, weight): a hospital sees more old people than young.
AGE_BANDS = ((0, 14, 8), (15, 29, 10), (30, 44, 13), (45, 59, 17), (60, 74, 24), (75, 89, 22),
             (90, 100, 6))
ABROAD = ("134", "139", "127", "350", "351", "352")  # INSEE codes of Spain, Portugal, Italy...
CITY_WEIGHTS = [w for _, _, w in CITIES]
DEPT_CODES = [d for d, _ in BIRTH_DEPARTMENTS]
DEPT_WEIGHTS = [w for _, w in BIRTH_DEPARTMENTS]
NIR_CELLS = 600 * 999  # (commune, order) pairs, spread over patient numbers without repeat


@dataclass
class Person:
    idx: int
    id: str
    gender: str
    given: list[str]
    family: str  # birth name (nom de naissance)
    usual: str | None  # married name (nom d'usage), when used
    birth: date
    age: int
    weight: float
    ipp: str
    ins: str | None
    line: str
    city: str
    postcode: str
    phone: str

    @property
    def display(self) -> str:
        """DUPONT Marie, as a ward list writes it."""
        return f"{(self.usual or self.family).upper()} {self.given[0]}"


def nir_key(nir13: int) -> int:
    return 97 - nir13 % 97


def age_at(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _phone(rng: random.Random, mobile: bool) -> str:
    n = rng.randrange(10000)
    return f"{FICTION_MOBILE if mobile else FICTION_LANDLINE} {n // 100:02d} {n % 100:02d}"


def _age(rng: random.Random, low: int, high: int) -> int:
    bands = [(max(lo, low), min(hi, high), w) for lo, hi, w in AGE_BANDS if lo <= high and hi >= low]
    lo, hi, _ = rng.choices(bands, weights=[w for _, _, w in bands])[0]
    return rng.randint(lo, hi)


def _weight(rng: random.Random, age: int, female: bool) -> float:
    if age < 1:
        return round(rng.uniform(3.2, 9.5), 1)
    if age < 16:
        return round((2 * age + 9) * rng.uniform(0.85, 1.2), 1)
    mean = 66 if female else 80
    return round(min(150.0, max(40.0, rng.gauss(mean, 12))), 1)


def make_person(rng: random.Random, idx: int, today: date, low: int = 0, high: int = 100,
                sex: str | None = None) -> Person:
    """A French patient between `low` and `high` years old (of `sex` when given)."""
    age = _age(rng, low, high)
    birth = today - timedelta(days=int((age + rng.random()) * 365.2425) + 1)
    age = age_at(birth, today)
    female = (sex == "female") if sex else rng.random() < 0.52
    era = 0 if birth.year < 1955 else 1 if birth.year < 1985 else 2
    names = (FEMALE_GIVEN if female else MALE_GIVEN)[era]
    given = [rng.choice(names)]
    if rng.random() < (0.6 if era == 0 else 0.3):
        second = rng.choice(names)
        if second != given[0]:
            given.append(second)
    family = rng.choice(FAMILY)
    usual = rng.choice(FAMILY) if female and age >= 25 and rng.random() < 0.55 else None
    city, postcode, _ = rng.choices(CITIES, weights=CITY_WEIGHTS)[0]
    number = rng.randint(1, 120)
    line = f"{number}{' bis' if rng.random() < 0.03 else ''} {rng.choice(STREET_KINDS)} {rng.choice(STREET_NAMES)}"
    ins = None
    if rng.random() < 0.93:  # the others' identity is still provisional: no INS yet
        dept = rng.choices(DEPT_CODES, weights=DEPT_WEIGHTS)[0]
        cell = (idx * 7919 + 104729) % NIR_CELLS  # distinct for distinct patients
        commune = rng.choice(ABROAD) if dept == 99 else f"{cell // 999 + 1:03d}"
        nir = f"{2 if female else 1}{birth.year % 100:02d}{birth.month:02d}{dept:02d}{commune}{cell % 999 + 1:03d}"
        ins = f"{nir}{nir_key(int(nir)):02d}"
    ipp = str(10_000_000 + (idx * 7919 + 4_000_037) % 90_000_000)
    return Person(idx, f"pat-{idx:06d}", "female" if female else "male", given, family, usual,
                  birth, age, _weight(rng, age, female), ipp, ins, line, city, postcode,
                  _phone(rng, mobile=age < 80 or rng.random() < 0.4))


def _contact(rng: random.Random, person: Person) -> dict | None:
    if person.age < 18:
        choices = [r for r in RELATIONS if r[3] == -1]
    else:
        choices = [r for r in RELATIONS
                   if (r[3] != 1 or person.age >= 45) and (r[3] != -1 or person.age < 45)
                   and (r[1] not in ("WIFE", "HUSB") or person.age >= 22)]
        if person.gender == "female":
            choices = [r for r in choices if r[1] != "WIFE"]
        else:
            choices = [r for r in choices if r[1] != "HUSB"]
    label, code, sex, _ = rng.choice(choices)
    family = person.usual or person.family if code in ("WIFE", "HUSB", "SON", "DAU", "FTH") \
        else rng.choice(FAMILY)
    era = 0 if code in ("MTH", "FTH") and person.age > 40 else rng.choice((1, 2))
    given = rng.choice((FEMALE_GIVEN if sex == "female" else MALE_GIVEN)[era])
    return {
        "relationship": [b.concept(V2_0131, "C", "Emergency Contact", "Personne à prévenir"),
                         b.concept(ROLE_CODE, code, label)],
        "name": {"use": "usual", "family": family, "given": [given]},
        "telecom": [{"system": "phone", "value": _phone(rng, mobile=True), "use": "mobile"}],
        "gender": sex,
    }


def patient_resource(rng: random.Random, person: Person, updated: int,
                     deceased: int | None = None) -> dict:
    identifiers = [{"use": "usual",
                    "type": b.concept(V2_0203, "PI", "Patient internal identifier", "IPP"),
                    "system": b.IPP_SYSTEM, "value": person.ipp}]
    if person.ins:
        identifiers.append({"use": "official",
                            "type": b.concept(V2_0203, "NI", "National unique individual identifier",
                                              "INS-NIR de test"),
                            "system": b.INS_SYSTEM, "value": person.ins})
    names = [{"use": "official", "family": person.family, "given": list(person.given)}]
    if person.usual:
        names.append({"use": "usual", "family": person.usual, "given": [person.given[0]]})
    resource = b.header("Patient", person.id, updated)
    resource.update({
        "identifier": identifiers,
        "active": True,
        "name": names,
        "telecom": [{"system": "phone", "value": person.phone,
                     "use": "mobile" if person.phone.startswith(FICTION_MOBILE) else "home"}],
        "gender": person.gender,
        "birthDate": person.birth.isoformat(),
    })
    if deceased is not None:
        resource["deceasedDateTime"] = b.instant(deceased)
    resource["address"] = [{"use": "home", "type": "physical", "line": [person.line],
                            "city": person.city, "postalCode": person.postcode, "country": "France"}]
    if rng.random() < 0.88:
        contact = _contact(rng, person)
        if contact:
            resource["contact"] = [contact]
    resource["managingOrganization"] = b.ref(f"Organization/{ORG_ID}", ORG_NAME)
    return resource
