"""OBX-5, the value of a result, read by its type (OBX-2) as an Observation's value[x],
and an encapsulated document (ED) as a report's attachment.

NM is a number with OBX-6's unit; SN a structured number ("<^5", "^3^-^5", "^1^:^128");
ST, TX and FT text (repetitions and formatted line breaks kept as lines); CE and CWE a
coded value. Senders stray from their declared type ("<5" or "Négatif" sent as NM): a
value that does not read as its type is kept as text, never dropped.
"""

from __future__ import annotations

import base64
import binascii
import re

from .. import datatypes
from ..message import Message
from . import links
from .links import Segment
from .quantities import COMPARATORS, decimal, quantity, unit_of

CODED = frozenset({"CE", "CWE", "CNE", "CF"})
_LOOSE = re.compile(r"^(<=|>=|<|>|≤|≥)\s*([+-]?\d+(?:[.,]\d+)?)$")  # "<5" sent as NM
# ED-2 type and ED-3 subtype (HL7 tables 0191 and 0291) -> MIME type
MIME = {"PDF": "application/pdf", "RTF": "application/rtf", "HTML": "text/html",
        "XML": "application/xml", "JPEG": "image/jpeg", "JPG": "image/jpeg", "PNG": "image/png",
        "TIFF": "image/tiff", "GIF": "image/gif", "PLAIN": "text/plain", "TEXT": "text/plain",
        "DICOM": "application/dicom", "MSWORD": "application/msword"}
_MAJOR = {"AP": "application", "APPLICATION": "application", "IM": "image", "IMAGE": "image",
          "TEXT": "text", "TX": "text", "AU": "audio", "AUDIO": "audio", "VIDEO": "video"}


def observation_value(m: Message, obx: Segment) -> dict:
    """{"valueQuantity": ...} or another value[x]; {} when OBX-5 is empty."""
    reps = datatypes.repetitions(m, obx, 5)
    if not reps:
        return {}
    kind = (datatypes.value(m, obx, 2) or "ST").strip().upper()
    unit, code = unit_of(m, obx, 6)
    if kind == "NM":
        return _number(reps[0].get(1), unit, code)
    if kind == "SN":
        return _structured(reps[0], unit, code)
    if kind in CODED:
        concept = datatypes.concept(reps[0])
        return {"valueCodeableConcept": concept} if concept else {}
    if kind in ("DT", "TS", "DTM"):
        when = datatypes.dtm(reps[0].get(1), datatypes.PARIS)
        return {"valueDateTime": when} if when else {}
    lines = [rep.get(1) or "" for rep in reps]
    said = links.text("\n".join(lines))
    return {"valueString": said} if said else {}


def _number(text: str | None, unit: str | None, code: str | None) -> dict:
    amount = decimal(text)
    if amount is not None:
        return {"valueQuantity": quantity(amount, unit, code)}
    loose = _LOOSE.match((text or "").strip())
    bound = decimal(loose[2]) if loose else None
    if loose and bound is not None:
        return {"valueQuantity": quantity(bound, unit, code, COMPARATORS[loose[1]])}
    said = links.text(text)
    return {"valueString": said} if said else {}


def _structured(rep: datatypes.Rep, unit: str | None, code: str | None) -> dict:
    """SN: comparator ^ number ^ separator ^ number, as a Quantity (with its comparator),
    a Range (3-5), a Ratio (1:128, 1/2) or, for what FHIR cannot hold (2+), text."""
    comparator = (rep.get(1) or "").strip()
    first, separator, second = rep.get(2), (rep.get(3) or "").strip(), rep.get(4)
    low, high = decimal(first), decimal(second)
    if low is not None and not separator and second is None:
        if not comparator or comparator == "=":
            return {"valueQuantity": quantity(low, unit, code)}
        if comparator in COMPARATORS:
            return {"valueQuantity": quantity(low, unit, code, COMPARATORS[comparator])}
    if low is not None and high is not None and not comparator:
        if separator == "-":
            return {"valueRange": {"low": quantity(low, unit, code), "high": quantity(high, unit, code)}}
        if separator in (":", "/"):
            return {"valueRatio": {"numerator": {"value": low}, "denominator": {"value": high}}}
    said = "".join(p for p in (comparator, first or "", separator, second or "") if p).strip()
    return {"valueString": said} if said else {}


def document(rep: datatypes.Rep, title: str | None) -> dict | None:
    """ED (source ^ type ^ subtype ^ encoding ^ data) as an Attachment with its content in
    base64; None when the data cannot be read (the raw message keeps it anyway)."""
    data = (rep.get(5) or "").strip()
    if not data:
        return None
    encoding = (rep.get(4) or "").strip().upper()
    try:
        if encoding in ("BASE64", "B64"):
            raw = base64.b64decode("".join(data.split()), validate=True)
        elif encoding == "HEX":
            raw = bytes.fromhex(data)
        else:  # A (ASCII) or nothing said: the text itself
            raw = data.encode()
    except (binascii.Error, ValueError):
        return None
    made: dict = {"contentType": _mime(rep.get(2), rep.get(3)),
                  "data": base64.b64encode(raw).decode("ascii")}
    if title:
        made["title"] = title
    return made


def _mime(kind: str | None, subtype: str | None) -> str:
    """ED-2 and ED-3 as a MIME type: "Application^PDF", "AP^PDF", "application^pdf"..."""
    kind, subtype = (kind or "").strip(), (subtype or "").strip()
    if "/" in subtype:
        return subtype.lower()
    if "/" in kind:
        return kind.lower()
    if subtype.upper() in MIME:
        return MIME[subtype.upper()]
    major = _MAJOR.get(kind.upper())
    if major and subtype:
        return f"{major}/{subtype.lower()}"
    return "application/octet-stream"
