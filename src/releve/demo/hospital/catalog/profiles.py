"""Why patients stay in each service: for each diagnosis, how common it is, its orders
(keys of drugs.DRUGS), the scenario its results follow (trends.py), its extra tests and
the operation already done."""

from __future__ import annotations

from typing import NamedTuple


class Profile(NamedTuple):
    """Why a current inpatient is here, and what that brings: orders, the trend of the
    results, extra tests, and the operation already done (surgical stays)."""

    diagnosis: str
    weight: int
    orders: tuple[str, ...]
    scenario: str
    labs: tuple[str, ...] = ()
    procedure: str = ""


PROFILES: dict[str, tuple[Profile, ...]] = {
    "uhcd": (Profile("R07.4", 3, ("para_po",), "stable", ("trop",)),
             Profile("R55", 2, ("enox_prev",), "stable"),
             Profile("N39.0", 2, ("ceftri", "para_po"), "infection"),
             Profile("E86", 2, ("para_po",), "renal")),
    "rea": (Profile("A41.9", 4, ("nad", "propofol", "sufenta", "piptazo", "insu_ivse", "hep_ivse",
                                 "esomep_iv"), "sepsis", ("lact",)),
            Profile("J96.0", 3, ("propofol", "sufenta", "ceftri", "enox_prev", "esomep_iv", "salbu"),
                    "infection", ("lact",)),
            Profile("K85.9", 1, ("para_iv", "esomep_iv", "enox_prev", "nad"), "infection", ("lact",))),
    "card": (Profile("I50.0", 4, ("furo_iv", "biso", "rami", "enox_prev", "kcl", "para_po"),
                     "heart_failure", ("bnp",)),
             Profile("I48.9", 3, ("apix", "biso", "para_po"), "stable", ("bnp",)),
             Profile("I21.9", 3, ("aspirin", "clopi", "enox_cur", "atorva", "biso", "rami"), "acs",
                     ("trop",)),
             Profile("R55", 1, ("enox_prev",), "stable", ("trop",))),
    "pneu": (Profile("J44.1", 4, ("salbu", "ipra", "pred", "amoxclav_iv", "enox_prev"), "infection"),
             Profile("J18.9", 4, ("amoxclav_iv", "para_iv", "enox_prev"), "infection"),
             Profile("C34.9", 2, ("morph_sc", "para_po", "ondans", "enox_prev"), "stable", ("alb",)),
             Profile("J45.9", 1, ("salbu", "pred"), "stable")),
    "mint": (Profile("A41.9", 2, ("piptazo", "para_iv", "enox_prev"), "infection", ("lact",)),
             Profile("N39.0", 3, ("ceftri", "para_po", "enox_prev"), "infection"),
             Profile("E86", 2, ("para_po", "enox_prev", "kcl"), "renal"),
             Profile("N17.9", 2, ("enox_prev",), "renal"),
             Profile("J18.9", 2, ("ceftri", "para_iv", "enox_prev"), "worsening")),
    "neur": (Profile("I63.9", 5, ("aspirin", "atorva", "enox_prev", "para_po"), "stable"),
             Profile("G40.9", 2, ("leve", "para_po"), "stable")),
    "gast": (Profile("K92.2", 3, ("esomep_iv", "para_iv"), "anemia", ("inr",)),
             Profile("K70.3", 2, ("thiamine", "lactulose", "oxaz"), "stable", ("inr", "alb")),
             Profile("K85.9", 3, ("para_iv", "nefopam", "esomep_iv", "enox_prev"), "infection")),
    "onco": (Profile("C34.9", 3, ("morph_sc", "para_po", "ondans", "macrogol", "enox_prev"), "stable",
                     ("alb",)),
             Profile("C18.9", 2, ("para_po", "ondans", "enox_prev"), "worsening"),
             Profile("C50.9", 2, ("para_po", "ondans", "tramadol"), "stable"),
             Profile("C61", 1, ("para_po", "enox_prev"), "stable")),
    "cvis": (Profile("K35.8", 3, ("para_iv", "nefopam", "ketoprof", "enox_prev", "amoxclav_iv"),
                     "postop", (), "appendectomy"),
             Profile("K80.0", 3, ("para_iv", "nefopam", "enox_prev", "ondans"), "postop", (),
                     "cholecystectomy"),
             Profile("C18.7", 2, ("para_iv", "nefopam", "morph_sc", "enox_prev", "esomep_iv"),
                     "postop", ("alb",), "colectomy"),
             Profile("K40.9", 1, ("para_po", "enox_prev"), "postop", (), "hernia")),
    "orth": (Profile("S72.0", 5, ("para_iv", "morph_sc", "enox_prev", "macrogol"), "postop", (),
                     "hip_fracture"),
             Profile("M16.1", 2, ("para_po", "nefopam", "enox_prev"), "postop", (), "thr"),
             Profile("M17.1", 2, ("para_po", "nefopam", "enox_prev", "tramadol"), "postop", (), "tkr"),
             Profile("S52.5", 1, ("para_po", "tramadol"), "stable")),
    "mat": (Profile("O80.0", 6, ("para_po", "spasfon", "fer"), "stable"),
            Profile("O82.0", 3, ("para_po", "enox_prev", "fer"), "postop", (), "cesarean")),
    "ped": (Profile("J21.9", 4, ("para_ped",), "infection"),
            Profile("A08.4", 3, ("para_ped",), "stable"),
            Profile("J45.9", 2, ("salbu", "pred"), "stable"),
            Profile("R56.0", 1, ("para_ped",), "infection")),
    "ger": (Profile("R41.0", 3, ("para_po", "enox_prev", "macrogol"), "stable"),
            Profile("J18.9", 3, ("amoxclav_iv", "para_po", "enox_prev"), "infection"),
            Profile("I50.0", 2, ("furo_iv", "biso", "enox_prev", "kcl"), "heart_failure", ("bnp",)),
            Profile("E86", 2, ("para_po", "enox_prev"), "renal"),
            Profile("G30.9", 1, ("para_po", "macrogol"), "stable"),
            Profile("N39.0", 2, ("ceftri", "para_po", "enox_prev"), "infection")),
    "ssr": (Profile("S72.0", 3, ("para_po", "enox_prev", "macrogol"), "stable"),
            Profile("I63.9", 3, ("aspirin", "atorva", "para_po"), "stable"),
            Profile("M17.1", 2, ("para_po", "enox_prev"), "stable"),
            Profile("J44.9", 1, ("ipra", "para_po"), "stable")),
    "psy": (Profile("F20.9", 4, ("rispe", "zopi", "halo"), "stable"),
            Profile("F32.2", 4, ("sertra", "oxaz", "zopi"), "stable"),
            Profile("F31.9", 2, ("olanz", "zopi"), "stable"),
            Profile("F10.2", 2, ("oxaz", "thiamine"), "stable")),
}
