"""How a patient's numbers move during a stay: plausible trends, not noise.

A scenario (infection treated, septic shock, heart failure drained, post-operative
anaemia...) sets where each measure starts and where it ends; values in between follow
the stay with some noise. A station's charts then tell a clinical story, and the one
patient whose CRP climbs ("worsening") stands out, as it should.
"""

from __future__ import annotations

import random

from .catalog.observations import LABS

# metric: (start range, end range); anything not named stays in its usual range.
SCENARIOS: dict[str, dict[str, tuple[tuple[float, float], tuple[float, float]]]] = {
    "infection": {"temp": ((38.4, 39.4), (36.7, 37.3)), "hr": ((98, 118), (72, 88)),
                  "crp": ((90, 220), (15, 50)), "wbc": ((13, 20), (7, 10)),
                  "rr": ((20, 26), (15, 18)), "spo2": ((90, 94), (95, 98))},
    "sepsis": {"temp": ((38.8, 40.0), (37.4, 38.2)), "hr": ((115, 135), (88, 102)),
               "sys": ((78, 92), (105, 120)), "dia": ((40, 52), (55, 65)),
               "crp": ((220, 350), (90, 160)), "wbc": ((18, 28), (11, 15)),
               "lact": ((3.5, 6.5), (1.2, 2.2)), "plt": ((90, 140), (110, 170)),
               "creat": ((160, 260), (100, 150)), "spo2": ((90, 94), (94, 97)),
               "rr": ((24, 32), (16, 22))},
    "worsening": {"temp": ((37.0, 37.4), (38.6, 39.3)), "hr": ((78, 88), (100, 115)),
                  "crp": ((25, 60), (140, 240)), "wbc": ((8, 11), (14, 19)),
                  "spo2": ((95, 97), (90, 93)), "rr": ((16, 18), (22, 27))},
    "heart_failure": {"bnp": ((4000, 12000), (1500, 4000)), "k": ((4.2, 4.7), (3.5, 3.9)),
                      "spo2": ((89, 93), (95, 97)), "rr": ((22, 28), (16, 19)),
                      "hr": ((95, 110), (68, 80)), "creat": ((90, 120), (105, 140))},
    "acs": {"trop": ((0.3, 2.5), (0.05, 0.3)), "hr": ((85, 100), (62, 72))},
    "postop": {"hb": ((12.5, 14.5), (9.5, 11.0)), "crp": ((10, 30), (60, 140)),
               "pain": ((5, 7), (1, 3)), "temp": ((37.4, 38.1), (36.8, 37.2))},
    "renal": {"creat": ((220, 420), (100, 160)), "k": ((5.5, 6.3), (4.0, 4.6)),
              "na": ((148, 156), (138, 143))},
    "anemia": {"hb": ((6.3, 7.8), (8.8, 10.2)), "hr": ((100, 115), (75, 88)),
               "sys": ((95, 108), (115, 130))},
    "stable": {},
}
USUAL: dict[str, tuple[float, float, float]] = {  # usual range and noise (absolute)
    "hr": (68, 88, 5), "sys": (115, 140, 8), "dia": (65, 85, 5), "temp": (36.5, 37.1, 0.2),
    "spo2": (95, 99, 1), "rr": (14, 18, 1.5), "pain": (0, 2, 1), "crp": (1, 8, 1),
    "trop": (0.003, 0.010, 0.001), "bnp": (50, 300, 30), "lact": (0.8, 1.6, 0.2),
    "gluc": (4.6, 7.0, 0.4), "glyc": (0.9, 1.4, 0.1), "inr": (0.95, 1.15, 0.05),
    "alb": (36, 44, 1.5), "hba1c": (5.0, 5.9, 0.1),
}
DIABETIC = {"glyc": ((2.0, 3.2), (1.3, 2.0)), "gluc": ((9, 16), (6.5, 10)),
            "hba1c": ((7.2, 9.8), (7.2, 9.8))}
NOISE = {"glyc": 0.35, "gluc": 1.0, "weight": 0.3}
LIMITS = {"spo2": (70, 100), "pain": (0, 10), "temp": (35.0, 41.5)}
EASED = {"hb"}  # falls early after surgery, then settles


class Trend:
    """Start and end of every measure for one stay; `at(metric, fraction)` in between."""

    def __init__(self, rng: random.Random, scenario: str, male: bool, diabetic: bool,
                 weight: float):
        self.rng = rng
        self.shape_eased = scenario == "postop"
        self.params: dict[str, tuple[float, float, float]] = {}
        overrides = dict(SCENARIOS[scenario])
        if diabetic:
            overrides.update(DIABETIC)
        for metric, (low, high, noise) in USUAL.items():
            self._set(metric, overrides, low, high, noise)
        for key, spec in LABS.items():
            if key in USUAL:
                continue
            low, high = spec.reference_range(male)
            span = high - low
            self._set(key, overrides, low + 0.25 * span, low + 0.75 * span,
                      0.03 * (low + high) / 2)
        loss = rng.uniform(3, 7) if scenario == "heart_failure" else 0.0
        self.params["weight"] = (weight + loss, weight, NOISE["weight"])

    def _set(self, metric: str, overrides: dict, low: float, high: float, noise: float) -> None:
        uniform = self.rng.uniform
        if metric in overrides:
            (s0, s1), (e0, e1) = overrides[metric]
            self.params[metric] = (uniform(s0, s1), uniform(e0, e1), NOISE.get(metric, noise))
        else:
            value = uniform(low, high)
            self.params[metric] = (value, value, noise)

    def at(self, metric: str, fraction: float) -> float:
        start, end, noise = self.params[metric]
        if self.shape_eased and metric in EASED:
            fraction = fraction ** 0.35
        value = start + (end - start) * fraction + self.rng.gauss(0, noise)
        low, high = LIMITS.get(metric, (0.0, None))
        value = max(low, value)
        return min(high, value) if high is not None else value
