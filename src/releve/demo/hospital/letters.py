"""Clinical documents: discharge letters, operative reports, emergency and tumour-board
notes, as DocumentReference with the document inline (text/plain, or a one-page PDF).

The PDF is written by hand (one page, Helvetica, WinAnsi encoding, exact xref offsets)
so that a station's viewer and printer get a real PDF without any library, and a
document stays a few kilobytes.
"""

from __future__ import annotations

import base64
import hashlib

from . import build as b
from .catalog import LOINC
from .site import ORG_ID, ORG_NAME

DOC_TYPES = {
    "discharge": ("18842-5", "Compte rendu d'hospitalisation"),
    "operative": ("11504-8", "Compte rendu opératoire"),
    "emergency": ("34111-5", "Compte rendu de passage aux urgences"),
    "rcp": ("11488-4", "Compte rendu de réunion de concertation pluridisciplinaire"),
}
PDF_SUBSTITUTES = {"≥": ">=", "≤": "<=", "→": "->", "\u202f": " "}


def _wrap(line: str, width: int = 92) -> list[str]:
    words, out, current = line.split(" "), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            out.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    out.append(current)
    return out


def _pdf_text(line: str) -> bytes:
    for char, plain in PDF_SUBSTITUTES.items():
        line = line.replace(char, plain)
    raw = line.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def pdf(lines: list[str]) -> bytes:
    """A valid one-page A4 PDF 1.4 showing `lines` (wrapped, at most one page)."""
    wrapped = [part for line in lines for part in _wrap(line)][:55]
    text = b"BT /F1 10 Tf 56 790 Td 13 TL " + b" ".join(
        b"(" + _pdf_text(line) + b") Tj T*" for line in wrapped) + b" ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(text)).encode() + b" >>\nstream\n" + text + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += str(number).encode() + b" 0 obj\n" + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 " + str(len(objects) + 1).encode() + b"\n0000000000 65535 f \n"
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += (b"trailer\n<< /Size " + str(len(objects) + 1).encode() + b" /Root 1 0 R >>\n"
            b"startxref\n" + str(xref).encode() + b"\n%%EOF\n")
    return bytes(out)


def document(rid: str, kind: str, patient: str, author: str, author_name: str, when: int,
             lines: list[str], now: int, encounter: str | None = None, as_pdf: bool = False,
             setting: str | None = None) -> dict:
    """A DocumentReference holding `lines` as UTF-8 text or as a PDF, written at `when`
    (filed in the HIS a little later, but not after `now`)."""
    code, title = DOC_TYPES[kind]
    if as_pdf:
        data, content_type = pdf(lines), "application/pdf"
    else:
        data, content_type = ("\n".join(lines) + "\n").encode(), "text/plain; charset=utf-8"
    resource = b.header("DocumentReference", rid, min(now, when + 2 * b.HOUR))
    resource.update({
        "status": "current", "docStatus": "final",
        "type": b.concept(LOINC, code, title),
        "subject": b.ref(f"Patient/{patient}"),
        "date": b.instant(when),
        "author": [b.ref(f"Practitioner/{author}", author_name)],
        "custodian": b.ref(f"Organization/{ORG_ID}", ORG_NAME),
        "description": title,
        "content": [{"attachment": {
            "contentType": content_type, "language": "fr-FR",
            "data": base64.b64encode(data).decode(), "size": len(data),
            "hash": base64.b64encode(hashlib.sha1(data).digest()).decode(),
            "title": f"{title} du {b.fr_date(when)}", "creation": b.instant(when)}}],
    })
    if encounter or setting:
        context: dict = {}
        if encounter:
            context["encounter"] = [b.ref(f"Encounter/{encounter}")]
        if setting:
            context["practiceSetting"] = b.text_concept(setting)
        resource["context"] = context
    return resource


def letter_head(service: str, title: str, who: str, born: str, ipp: str) -> list[str]:
    return [f"{ORG_NAME} - {service}", title, "",
            f"Patient(e) : {who}, né(e) le {born} - IPP {ipp}", ""]
