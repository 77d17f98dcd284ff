"""Barcodes ready to put in a printout: a DataMatrix and a Code 128, as an <img> of the
symbol's exact modules.

zxing-cpp (3.x, whose writer is zint) makes the symbols. Each is drawn as a grey-scale
PNG with one pixel per module, embedded as a data: URL (the renderer fetches nothing
else) and sized in millimetres by CSS; `image-rendering: pixelated` has WeasyPrint write
it with interpolation off, so every module prints as a sharp square at any resolution,
like a vector shape would, and a hand scanner reads it.

Why not vector SVG (what this module drew first): WeasyPrint parses and draws an SVG
path point by point, at every occurrence. A sheet of 24 labels holds 48 symbols; at
0.6 s of CPU per sheet, the ward binder of 30 patients spent half its time drawing
barcodes. A PNG is decoded once per document and written once, every label pointing at
the same image (bench/results/print.md).
"""

from __future__ import annotations

import base64
import io
from typing import Any

import zxingcpp
from PIL import Image

from ...errors import ReleveError


class CodeError(ReleveError):
    """The content cannot be put in that symbol (too long, or characters it cannot carry)."""


def _img(symbol: zxingcpp.Barcode, width: str, height: str, label: str) -> str:
    """The symbol as an <img>, one pixel per module (quiet zones included)."""
    pixels = _pixels(symbol)
    rows, columns = pixels.shape or (0, 0)
    png = io.BytesIO()
    Image.frombytes("L", (columns, rows), pixels.tobytes()).save(png, "PNG")
    data = base64.b64encode(png.getvalue()).decode("ascii")
    return (f'<img class="code" src="data:image/png;base64,{data}" alt="{label}" '
            f'style="width:{width};height:{height};image-rendering:pixelated">')


def _pixels(symbol: zxingcpp.Barcode) -> memoryview:
    """The symbol's modules, quiet zones included: rows of bytes, 0 black, 255 white."""
    image: Any = zxingcpp.write_barcode_to_image(symbol, scale=1, add_quiet_zones=True)
    return memoryview(image)


def _modules(symbol: zxingcpp.Barcode) -> int:
    """How many modules wide the symbol is, quiet zones included."""
    return (_pixels(symbol).shape or (0, 0))[1]


def datamatrix_img(content: str | bytes, size: str = "16mm") -> str:
    """A square ECC 200 DataMatrix (square: what hand scanners and label layouts expect).

    `content` as bytes goes in byte for byte (the INS content holds GS separators)."""
    try:
        symbol = zxingcpp.create_barcode(content, zxingcpp.BarcodeFormat.DataMatrix,
                                         force_square=True)
    except (ValueError, RuntimeError) as exc:
        raise CodeError(str(exc)) from None
    return _img(symbol, size, size, "DataMatrix")


def code128_img(text: str, height: str = "9mm", max_width: float = 40.0,
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
    width = min(_modules(symbol) * module, max_width)
    return _img(symbol, f"{width:.2f}mm", height, "Code 128")
