"""JSON that keeps FHIR numbers as written.

FHIR gives a decimal's precision meaning (0.010 is not 0.01), and orjson, like any parser
that reads numbers as floats, writes 1.50 back as 1.5, 1E2 as 100.0, and rounds numbers
of more than 15 digits. Lines that need no rewriting are stored as received; a resource
that must be re-serialised (Bundle entries, references resolved) goes through here.
orjson stays the fast path: simplejson with Decimal measured 44 MB/s to read and 76 MB/s
to write on the Synthea Bundles, so it is used only when a number needs it.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import simplejson

# a JSON number (after ':' '[' or ',') that a float would not give back as written;
# a match inside a string only costs the slower, exact path
LOSSY_NUMBER = re.compile(rb'[:\[,]\s*-?(?:[0-9]{16,}|[0-9.]{17,}|[0-9]+\.[0-9]*0(?=\s*[,}\]])'
                          rb'|[0-9]+(?:\.[0-9]+)?[eE])')


def loads_exact(data: bytes) -> Any:
    """Parse JSON already known to be valid; Decimal for numbers a float would alter."""
    if LOSSY_NUMBER.search(data):
        return simplejson.loads(data, use_decimal=True)
    return orjson.loads(data)


def dumps_exact(value: Any) -> bytes:
    """Compact JSON, numbers exactly as `loads_exact` read them (RecursionError if the
    value is nested deeper than a JSON writer goes)."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        pass  # Decimal values, or nesting deeper than orjson writes
    return simplejson.dumps(value, use_decimal=True, separators=(",", ":"),
                            ensure_ascii=False).encode()
