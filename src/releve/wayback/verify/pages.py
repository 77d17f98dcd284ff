"""The readable report of `releve verify`, HTML and PDF from one template
(wayback/templates/verify.html): the counts, then the first differences of each type,
then where to look."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import orjson

from ...files import open_private
from .compare import Outcome
from .report import diffs, resource_entry, summary

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def context(outcome: Outcome, show: int) -> dict[str, Any]:
    """What the template shows: the summary, and per type its first `show` differences
    of each status, with the field diffs kept."""
    reference = outcome.reference.time
    first: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for rtype in sorted(outcome.types):
        for status in ("missing", "changed", "extra"):
            rows = [resource_entry(row, reference) for row in outcome.rows(rtype, status, show)]
            if rows:
                first.setdefault(rtype, {})[status] = rows
    return {"report": summary(outcome), "first": first, "diffs": diffs(outcome), "show": show}


def render_html(outcome: Outcome, show: int) -> str:
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    environment.filters["json"] = lambda value: orjson.dumps(value, default=str).decode()
    return environment.get_template("verify.html").render(**context(outcome, show))


def write_pages(outcome: Outcome, show: int, html_path: Path, pdf_path: Path) -> None:
    from weasyprint import HTML

    html = render_html(outcome, show)
    with open_private(html_path) as handle:
        handle.write(html.encode())
    document = HTML(string=html, base_url=str(TEMPLATES)).write_pdf()
    with open_private(pdf_path) as handle:
        handle.write(document)
