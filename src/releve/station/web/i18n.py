"""French first, English available.

Templates and code write the French text, wrapped in `_()`; English comes from the
catalogues below, keyed by that French text. A text with no English entry shows in
French rather than as a key: a nurse always reads something meaningful. Each part of the
app keeps its own catalogue module (listed in CATALOGUES), so they can grow separately.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache

LANGUAGES = ("fr", "en")
CATALOGUES = ("releve.station.web.en_common", "releve.station.web.en_patient",
              "releve.station.web.en_print")


@cache
def english() -> dict[str, str]:
    merged: dict[str, str] = {}
    for name in CATALOGUES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        merged.update(getattr(module, "EN"))
    return merged


def translator(lang: str) -> Callable[..., str]:
    """`_("Texte {n}", n=3)`: the text in `lang`, then formatted with the arguments."""
    table = english() if lang == "en" else {}

    def _(text: str, **values: object) -> str:
        chosen = table.get(text, text)
        return chosen.format(**values) if values else chosen

    return _
