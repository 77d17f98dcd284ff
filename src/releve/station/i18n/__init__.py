"""French first, English available.

Templates and code write the French text, wrapped in `_()`; English comes from the
catalogues below, keyed by that French text. A text with no English entry shows in
French rather than as a key: a nurse always reads something meaningful. Each part of the
app keeps its own catalogue module (listed in CATALOGUES), so they can grow separately.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from . import (
    en_chart,
    en_common,
    en_followups,
    en_import,
    en_journal,
    en_meds,
    en_patient,
    en_print,
    en_rec_admin,
    en_rec_moves,
    en_rec_obs,
    en_rec_orders,
    en_rec_peers,
    en_ward,
    en_way_back,
)

LANGUAGES = ("fr", "en")
_MODULES = (en_common, en_patient, en_print, en_meds, en_chart, en_import, en_ward, en_followups,
            en_journal, en_rec_admin, en_rec_obs, en_rec_moves, en_rec_orders, en_rec_peers,
            en_way_back)
CATALOGUES = tuple(module.__name__ for module in _MODULES)


@cache
def english() -> dict[str, str]:
    merged: dict[str, str] = {}
    for module in _MODULES:
        merged.update(module.EN)
    return merged


def translator(lang: str) -> Callable[..., str]:
    """`_("Texte {n}", n=3)`: the text in `lang`, then formatted with the arguments."""
    table = english() if lang == "en" else {}

    def _(text: str, **values: object) -> str:
        chosen = table.get(text, text)
        return chosen.format(**values) if values else chosen

    return _
