"""Barcodes as vector SVG, ready to inline in a printout: a DataMatrix and a Code 128.

zxing-cpp (3.x, whose writer is zint) makes the symbols; we only turn its SVG into one a
page can size: a viewBox so that CSS millimetres scale it, crisp edges so no printer
blurs a module, and no XML prologue so it can sit inside HTML. Vector all the way: a
label printed at any resolution scans, where a bitmap scaled by the printer may not.
"""

from __future__ import annotations

import re

import zxingcpp

from ...errors import ReleveError

_ROOT = re.compile(r'<svg width="(\d+)" height="(\d+)"')


class CodeError(ReleveError):
    """The content cannot be put in that symbol (too long, or characters it cannot carry)."""


def _inline(svg: str, width: str, height: str, label: str) -> str:
    start = svg.index("<svg")
    body = svg[start:]
    match = _ROOT.match(body)
    if match is None:
        raise CodeError("unexpected SVG from the barcode writer")
    root = (f'<svg viewBox="0 0 {match[1]} {match[2]}" width="{width}" height="{height}" '
            f'preserveAspectRatio="none" shape-rendering="crispEdges" role="img" '
            f'aria-label="{label}"')
    return root + body[match.end():]


def datamatrix_svg(content: str | bytes, size: str = "16mm") -> str:
    """A square ECC 200 DataMatrix (square: what hand scanners and label layouts expect).

    `content` as bytes goes in byte for byte (the INS content holds GS separators)."""
    try:
        symbol = zxingcpp.create_barcode(content, zxingcpp.BarcodeFormat.DataMatrix,
                                         force_square=True)
    except (ValueError, RuntimeError) as exc:
        raise CodeError(str(exc)) from None
    svg = zxingcpp.write_barcode_to_svg(symbol, add_quiet_zones=True)
    return _inline(svg, size, size, "DataMatrix")


def code128_svg(text: str, height: str = "9mm", max_width: float = 40.0,
                module: float = 0.3) -> str:
    """A Code 128 of `text` (digits pack two per symbol), quiet zones included, no text
    under it: the page prints the number itself, in a font a person can read.

    Sized by its modules: `module` mm each (0.3 mm reads with any ward scanner), narrowed
    only as far as needed to fit `max_width` mm; a long identifier gets a wider code, not
    bars too thin to read."""
    if not text or not text.isascii() or not text.isprintable():
        raise CodeError("Code 128 here carries printable ASCII only")
    try:
        symbol = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.Code128)
    except (ValueError, RuntimeError) as exc:
        raise CodeError(str(exc)) from None
    svg = zxingcpp.write_barcode_to_svg(symbol, add_hrt=False, add_quiet_zones=True)
    root = _ROOT.search(svg)
    if root is None:
        raise CodeError("unexpected SVG from the barcode writer")
    modules = int(root[1])
    width = min(modules * module, max_width)
    return _inline(svg, f"{width:.2f}mm", height, "Code 128")
