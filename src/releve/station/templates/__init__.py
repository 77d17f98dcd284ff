"""The station's templates, for its two front ends:

    web/     the pages (web/base.py renders them)
    print/   the printouts and their stylesheet (printing/pdf.py renders them)
    shared/  the macros a page and its printout both import, so that the census, the OR
             day and the medications say the same on screen and on paper

Each front end's loader is given its own folder, then shared/: a page cannot reach a
printout's template nor the reverse, and neither builds a path into the other's package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from ..views import formats

ROOT = Path(__file__).resolve().parent
SHARED = ROOT / "shared"
WEB = ROOT / "web"
PRINT = ROOT / "print"


def environment(folder: Path, **options: Any) -> jinja2.Environment:
    """A Jinja environment over `folder` then shared/, with the date and time filters
    every page and printout uses."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader([folder, SHARED]), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, **options)
    env.filters.update(date=formats.date_text, datetime=formats.datetime_text,
                       time=formats.time_text)
    return env
