"""HTML templates to A4 PDF with WeasyPrint, on the station, with no network.

The templates are in station/templates/print/ (French text wrapped in `_()`, English from
the station's catalogues, station/i18n, as for the pages) and the print stylesheet beside
them. What a printout says as its page does is written once, in the macros of
templates/shared/ (_census.html, _bookings.html, patient_medications.html), which the
loader reads after print/ (templates/__init__.py).

Nothing is fetched: the stylesheet is read from the package and passed in, barcodes are
inline SVG, fonts are the machine's own (Debian's DejaVu, found through fontconfig), and
the URL fetcher refuses every scheme but `data:` so that no text in the data can make
the renderer reach out.

The Jinja environment, the parsed stylesheet and the font configuration are made once
per process: parsing the CSS and scanning the fonts would otherwise dominate a label.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any, NamedTuple

import jinja2

from ... import clock
from .. import templates
from ..i18n import translator
from ..views import formats

ROOT = templates.ROOT
TEMPLATES = templates.PRINT
STYLESHEET = TEMPLATES / "print.css"
# One render at a time: the shared font configuration (Pango and fontconfig state) is not
# documented as thread-safe, and a render is CPU-bound under the GIL anyway.
_LOCK = threading.Lock()


class Engine:
    """The Jinja environment and WeasyPrint's parsed stylesheet, shared by every printout."""

    def __init__(self) -> None:
        # WeasyPrint is imported here, not at the top: every `releve` command imports this
        # module through the CLI, and only the ones that print should pay for WeasyPrint.
        from weasyprint import CSS
        from weasyprint.text.fonts import FontConfiguration
        from weasyprint.urls import URLFetcher

        self.env = templates.environment(TEMPLATES, undefined=jinja2.StrictUndefined)
        self.fetcher = URLFetcher(allowed_protocols=("data",))
        self.fonts = FontConfiguration()
        self.css = CSS(string=STYLESHEET.read_text(encoding="utf-8"), font_config=self.fonts,
                       url_fetcher=self.fetcher)

    def html(self, template: str, lang: str, zone: str, **context: Any) -> str:
        """The document as HTML (what the PDF is made from; tests may read it too).
        `template` is a file of templates/print/, "mar.html"."""
        common = {"lang": lang, "_": translator(lang), "zone": zone,
                  "age": lambda birth: formats.age_text(birth, lang=lang, zone=zone)}
        return self.env.get_template(template).render(**common, **context)

    def document(self, html: str) -> Any:
        """The HTML laid out in pages (a WeasyPrint Document), not yet written: several
        are bound into one PDF by `bound`."""
        from weasyprint import HTML

        source = HTML(string=html, base_url=str(TEMPLATES), url_fetcher=self.fetcher)
        with _LOCK:
            return source.render(stylesheets=[self.css], font_config=self.fonts)

    def pdf(self, html: str) -> Pdf:
        return bound([self.document(html)])


class Pdf(NamedTuple):
    data: bytes
    pages: int


@cache
def engine() -> Engine:
    return Engine()


def bound(documents: list[Any]) -> Pdf:
    """Laid-out documents as one PDF, in order, each page keeping its own size and
    layout (a landscape MAR after a portrait summary): what a binder is."""
    pages = [page for document in documents for page in document.pages]
    with _LOCK:
        return Pdf(documents[0].copy(pages).write_pdf(), len(pages))


def render(template: str, lang: str, zone: str, **context: Any) -> Pdf:
    """One printout as PDF bytes."""
    shared = engine()
    return shared.pdf(shared.html(template, lang, zone, **context))


def local_now(zone: str) -> str:
    """'02/12/2026 14:03': when the paper was printed, in the station's zone."""
    return clock.now_in(zone).strftime("%d/%m/%Y %H:%M")
