"""One HL7 v2 message as received: its bytes decoded, checked and understood enough to
be acknowledged, logged and later mapped (docs/hl7/messages.md).

`read` is on the acknowledgement's path, so it does only what the listener needs: the
header, the event time and the patient keys, each field they come from (MSH-7 to -12,
EVN-2 and -6, PID-2 and -3, MRG-1) parsed by python-hl7 on its own. The whole message
is parsed only when a mapping asks for `parsed`, in the segment writer, where time is
plentiful: python-hl7 takes about a millisecond for a 1.5 KB ADT, several times the
budget of an acknowledgement.
"""

from __future__ import annotations

import functools
import itertools
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import hl7

from ...clock import now_in
from ...errors import ReleveError
from .datatypes import INS_OIDS, PARIS, dtm
from .fields import Rep, Unescape, field_reps, unescaper

__all__ = ["IDENTITY", "PARIS", "SUPPORTED", "Header", "Message", "Rejected", "acknowledgement",
           "patient_key", "read", "required_segments"]

_ADT = ("A01", "A02", "A03", "A04", "A05", "A06", "A07", "A08", "A11", "A12", "A13", "A21",
        "A22", "A40", "A47", "Z99",
        "A54", "A55",                        # change of attending doctor, and its cancel
        "Z80", "Z81", "Z84", "Z85",          # PAM France: medical, nursing unit, and cancels
        "A24", "A28", "A29", "A31", "A37")   # identity feeds: link, add, delete, update, unlink
# Identity events: about a person, not a stay (their PV1, when sent, says class N).
IDENTITY = frozenset({"A24", "A28", "A29", "A31", "A37"})
SUPPORTED: frozenset[str] = frozenset(
    [f"ADT^{event}" for event in _ADT] + ["ORU^R01", "ORM^O01", "OMG^O19", "RDE^O11",
                                           "RAS^O17"]
    + [f"SIU^S{n}" for n in (12, 13, 14, 15)])


def required_segments(kind: str) -> tuple[str, ...]:
    """The segments a kind cannot be mapped without (HL7 v2.5 and IHE PAM France), in
    the order they are checked. EVN is not among them: the event time falls back on
    MSH-7. PID is, for every kind: whatever Relève keeps belongs to a patient."""
    family, _, event = kind.partition("^")
    if family == "ADT":
        if event in IDENTITY:
            return ("PID",)
        return ("PID", "MRG") if event in ("A40", "A47") else ("PID", "PV1")
    return {"ORU": ("PID", "OBR"), "ORM": ("PID", "ORC"), "OMG": ("PID", "ORC", "OBR"),
            "RDE": ("PID", "ORC", "RXE"), "RAS": ("PID", "ORC", "RXA"),
            "SIU": ("SCH", "PID")}.get(family, ())


# MSH-18 (HL7 table 0211) -> Python codec. "ASCII" is often written by engines that send
# Latin-1: a message so labelled that is not ASCII is read as an unlabelled one.
CHARSETS = {"ASCII": "ascii", "UNICODE UTF-8": "utf-8", "UTF-8": "utf-8", "UTF8": "utf-8",
            "8859/15": "iso8859-15", "ISO-8859-1": "latin-1", "ISO-8859-15": "iso8859-15",
            **{f"8859/{n}": f"iso8859-{n}" for n in range(2, 10)}, "8859/1": "latin-1"}
_HL7_CHARSET = {codec: name for name, codec in CHARSETS.items() if name[0] in "8A" or
                name == "UNICODE UTF-8"}
_FAMILIES = frozenset(kind.partition("^")[0] for kind in SUPPORTED)
_BOM = b"\xef\xbb\xbf"
_KIND = re.compile(r"[A-Z0-9]{3}(\^[A-Z0-9]{3})?")
DEFAULT_SEPARATORS = "|^~\\&"


class Rejected(ReleveError):
    """A message refused: `code` AR (not to be sent again: not HL7, a kind this receiver
    does not take) or AE (an error in the message: a required segment or field missing).
    `reason` names a segment, field or message kind, never a value: it goes into the
    ACK, the quarantine and the logs. `condition` is the HL7 table 0357 code for ERR-3,
    `location` the ERR-2 location (segment^sequence^field) when there is one."""

    def __init__(self, code: str, reason: str, header: Header | None = None, *,
                 condition: str = "207", location: str = "") -> None:
        super().__init__(reason)
        self.code, self.reason, self.header = code, reason, header
        self.condition, self.location = condition, location

    def __reduce__(self) -> tuple[Any, ...]:  # picklable, for a worker process to send
        return (_rejected, (self.code, self.reason, self.header, self.condition,
                            self.location))

    def acknowledgement(self) -> bytes:
        """The AE or AR ACK that answers this refusal, its ERR naming the condition and
        the location."""
        return acknowledgement(self.header, self.code, self.reason,
                               condition=self.condition, location=self.location)


def _rejected(code: str, reason: str, header: Header | None, condition: str,
              location: str) -> Rejected:
    return Rejected(code, reason, header, condition=condition, location=location)


@dataclass(frozen=True)
class Header:
    sender: str        # MSH-3 + "|" + MSH-4, as written (components kept)
    receiver: str      # MSH-5 + "|" + MSH-6
    control_id: str    # MSH-10
    kind: str          # "ADT^A01" (MSH-9.1 ^ MSH-9.2)
    version: str       # MSH-12 (its version id, MSH-12.1)
    sent: str | None   # MSH-7 as a FHIR dateTime
    charset: str       # the Python codec the message was decoded with
    separators: str = DEFAULT_SEPARATORS  # MSH-1 and MSH-2, for the ACK
    processing: str = "P"                 # MSH-11, echoed in the ACK


@dataclass(frozen=True)
class Message:
    raw: bytes                # exactly the bytes received inside the MLLP frame
    text: str                 # decoded; segments separated by "\r" whatever was received
    header: Header
    event_time: str | None    # FHIR dateTime: EVN-6, else EVN-2, else MSH-7
    patient: str | None       # "<authority>|<id>" of PID-3's IPP
    merged: str | None        # MRG-1's key, same rule

    @functools.cached_property
    def parsed(self) -> Any:
        """The whole message, parsed by python-hl7 (hl7.Message) on first use."""
        return hl7.parse(self.text)

    @functools.cached_property
    def unescape(self) -> Unescape:
        """python-hl7's unescape with this message's encoding characters and charset."""
        return unescaper(self.parsed, self.header.charset)


def read(raw: bytes, zone: ZoneInfo = PARIS) -> Message:
    """Decode and check one message (the bytes inside an MLLP frame); raises Rejected."""
    body = raw[3:] if raw.startswith(_BOM) else raw
    body = body.lstrip(b" \t\r\n")
    msh_bytes = re.split(rb"[\r\n]", body, maxsplit=1)[0]
    if msh_bytes[:3] != b"MSH" or len(msh_bytes) < 8:
        raise Rejected("AR", "not an HL7 v2 message: it does not begin with an MSH segment")
    separators = _separators(msh_bytes[3:8].decode("latin-1"))
    if len(set(separators)) != 5 or any(c.isalnum() or c.isspace() for c in separators):
        raise Rejected("AR", "MSH-1 and MSH-2 (the separators) are not usable",
                       condition="207", location="MSH^1^2")
    fields = msh_bytes.split(separators[0].encode("latin-1"))
    charset = _charset(body, fields[17] if len(fields) > 17 else b"", separators)
    if charset is None:
        raise Rejected("AR", "MSH-18 names a character set this receiver does not take",
                       _fallback_header(fields, separators), condition="207",
                       location="MSH^1^18")
    try:
        text = body.decode(charset)
    except UnicodeDecodeError:
        raise Rejected("AE", "the message is not valid in the character set MSH-18 names",
                       _fallback_header(fields, separators), condition="102",
                       location="MSH^1^18") from None
    lines = [line for line in text.replace("\r\n", "\r").replace("\n", "\r").split("\r")
             if line.strip()]
    text = "\r".join(lines)
    return _check(raw, text, lines, charset, separators, zone)


def _separators(head: str) -> str:
    """MSH-1 and MSH-2 (field separator and encoding characters, from the 5 characters
    after "MSH"), the defaults filled in for those not written."""
    field = head[0]
    encoding = head[1:].split(field)[0]
    return field + encoding + DEFAULT_SEPARATORS[1 + len(encoding):]


def _charset(body: bytes, msh18: bytes, separators: str) -> str | None:
    """The codec of the message: MSH-18's first repetition; unlabelled (or labelled ASCII
    but not ASCII), UTF-8 when the bytes are UTF-8, else ISO-8859-1. None: unknown."""
    label = msh18.decode("latin-1").split(separators[2])[0].split(separators[1])[0]
    label = " ".join(label.split()).upper()
    if label and label != "ASCII":
        return CHARSETS.get(label)
    if body.isascii():
        return "ascii" if label else "utf-8"
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def _fallback_header(fields: list[bytes], separators: str) -> Header:
    """What an ACK needs of a message that cannot be decoded: its MSH fields as Latin-1
    (the MSH segment is ASCII in practice), enough to answer MSH-10."""
    def text(n: int) -> str:
        return fields[n - 1].decode("latin-1") if len(fields) >= n else ""
    comp = separators[1]
    kind = comp.join(text(9).split(comp)[:2])
    return Header(f"{text(3)}|{text(4)}", f"{text(5)}|{text(6)}", text(10).split(comp)[0],
                  kind, text(12).split(comp)[0], None, "latin-1", separators,
                  text(11).split(comp)[0] or "P")


# The fields `read` takes from each segment; MSH-3 to -6 are kept as written instead.
_NEEDED = {"MSH": (7, 9, 10, 11, 12), "EVN": (2, 6), "PID": (2, 3), "MRG": (1,)}
Fields = dict[tuple[str, int], list[Rep]]
# None of those fields is ever long; a garbage one of megabytes would hold the listener
# for seconds in python-hl7 (200,000 repetitions of PID-3: 13 s).
LONGEST_FIELD = 4096


def _fields(lines: list[str], names: list[str], which: tuple[str, ...], separators: str,
            charset: str, header: Header | None) -> Fields:
    """The repetitions of the fields `read` needs (_NEEDED), from the first segment of
    each name in `which`. A field written without any encoding character is its own value; the
    others are parsed by python-hl7, one field at a time, and remembered: a feed repeats
    its MSH-9 and MSH-12 in every message, and a patient's PID-3 in each of theirs."""
    fs, special = separators[0], _specials(separators)
    found: Fields = {}
    for name in which:
        if name not in names:
            continue
        wanted = _NEEDED[name]
        parts = lines[names.index(name)].split(fs, max(wanted) + 1)
        shift = 1 if name == "MSH" else 0  # MSH-1 is the separator: MSH-n is part n-1
        for n in wanted:
            text = parts[n - shift] if n - shift < len(parts) else ""
            if len(text) > LONGEST_FIELD:
                raise Rejected("AE", f"{name}-{n} is longer than this receiver reads "
                               f"({LONGEST_FIELD} characters)", header, condition="102",
                               location=f"{name}^1^{n}")
            if special(text):
                parse = _remembered_field if len(text) <= _REMEMBERED else _parse_field
                found[(name, n)] = parse(text, separators, charset)
            elif text and text != '""':
                found[(name, n)] = [Rep(text, str)]
    return found


@functools.lru_cache(maxsize=16)
def _specials(separators: str) -> Callable[[str], re.Match[str] | None]:
    """Finds an encoding character (component, repetition, escape, sub-component)."""
    return re.compile(f"[{re.escape(separators[1:])}]").search


def _parse_field(text: str, separators: str, charset: str) -> list[Rep]:
    """One field parsed by python-hl7 (in a message of its own, MSH giving the
    separators), as its repetitions."""
    fs = separators[0]
    parsed = hl7.parse(f"MSH{fs}{separators[1:]}\rZZZ{fs}{text}")
    return field_reps(parsed[1], 1, unescaper(parsed, charset))


_REMEMBERED = 512  # characters: longer fields (garbage, mostly) are not kept
_remembered_field = functools.lru_cache(maxsize=4096)(_parse_field)


def _check(raw: bytes, text: str, lines: list[str], charset: str, separators: str,
           zone: ZoneInfo) -> Message:
    """Read the fields the listener needs and check the message."""
    if len(lines[0]) > LONGEST_FIELD:
        raise Rejected("AR", f"the MSH segment is longer than this receiver reads "
                       f"({LONGEST_FIELD} characters)", condition="207")
    names = [line[:3] for line in lines]
    fields = _fields(lines, names, ("MSH",), separators, charset, None)
    header = _header(lines[0], fields, charset, separators, zone)
    _check_kind(header, names)
    fields |= _fields(lines, names, ("EVN", "PID", "MRG"), separators, charset, header)
    patient = _key(fields, "PID", 3) or _key(fields, "PID", 2)
    if patient is None and "PID" in names:
        raise Rejected("AE", "PID-3 (patient identifier list) holds no identifier", header,
                       condition="101", location="PID^1^3")
    merged = _key(fields, "MRG", 1)
    if merged is None and "MRG" in required_segments(header.kind):
        raise Rejected("AE", "MRG-1 (prior patient identifier list) holds no identifier",
                       header, condition="101", location="MRG^1^1")
    event_time = (dtm(_first(fields, "EVN", 6), zone) or dtm(_first(fields, "EVN", 2), zone)
                  or header.sent)
    return Message(raw, text, header, event_time, patient, merged)


def _first(fields: Fields, seg: str, field: int, component: int = 1) -> str | None:
    reps = fields.get((seg, field))
    return reps[0].get(component) if reps else None


def _header(msh: str, fields: Fields, charset: str, separators: str, zone: ZoneInfo) -> Header:
    written = msh.split(separators[0], 6)[2:6] + ["", "", "", ""]  # MSH-3 to -6, as written
    message_type, event = _first(fields, "MSH", 9), _first(fields, "MSH", 9, 2)
    return Header(
        sender=f"{written[0]}|{written[1]}", receiver=f"{written[2]}|{written[3]}",
        control_id=_first(fields, "MSH", 10) or "",
        kind=f"{message_type}^{event}" if message_type and event else (message_type or ""),
        version=_first(fields, "MSH", 12) or "", sent=dtm(_first(fields, "MSH", 7), zone),
        charset=charset, separators=separators,
        processing=_first(fields, "MSH", 11) or "P")


def _check_kind(header: Header, names: list[str]) -> None:
    """Refuse a message without control id or type, of a kind not taken, or without a
    segment its kind needs."""
    if names.count("MSH") > 1:
        raise Rejected("AR", "the frame holds more than one message (batches are not taken)",
                       header, condition="207")
    if not header.control_id:
        raise Rejected("AR", "MSH-10 (message control id) is missing", header,
                       condition="101", location="MSH^1^10")
    kind = header.kind
    if not kind:
        raise Rejected("AR", "MSH-9 (message type) is missing", header, condition="101",
                       location="MSH^1^9")
    if kind not in SUPPORTED:
        said = f"message type {kind}" if _KIND.fullmatch(kind) else "the message type in MSH-9"
        raise Rejected("AR", f"{said} is not supported by this receiver", header,
                       condition="201" if kind.partition("^")[0] in _FAMILIES else "200",
                       location="MSH^1^9")
    for name in required_segments(kind):
        if name not in names:
            raise Rejected("AE", f"{kind} without the required {name} segment", header,
                           condition="100", location=name)


def _key(fields: Fields, name: str, field: int) -> str | None:
    return patient_key(fields.get((name, field), ()))


def patient_key(cx: Iterable[Rep]) -> str | None:
    """The patient key of a CX list: "<authority>|<id>" of the identifier typed PI (the
    IPP), else of the first one that is not an INS, else of the first with an id."""
    reps = [rep for rep in cx if rep.get(1)]
    chosen = next((rep for rep in reps if rep.get(5) == "PI"), None) or next(
        (rep for rep in reps if not _is_ins(rep)), None) or (reps[0] if reps else None)
    return f"{chosen.authority(4)}|{chosen.get(1)}" if chosen else None


def _is_ins(rep: Rep) -> bool:
    return rep.get(5) in ("INS", "NI") or rep.get(4, 2) in INS_OIDS


_ack_numbers = itertools.count()


def acknowledgement(header: Header | None, code: str, text: str | None = None, *,
                    condition: str | None = None, location: str = "") -> bytes:
    """An ACK (without MLLP framing) in the message's charset and separators: MSH with
    sender and receiver swapped and MSH-9 ACK^<event>^ACK, MSA (code, control id, text)
    and, for AE or AR, an ERR segment (v2.5: ERR-2 location, ERR-3 table 0357 condition,
    ERR-4 severity E, ERR-8 the text). A Rejected's own ACK is `err.acknowledgement()`:
    with its condition (ERR-3, else 207) and location (ERR-2)."""
    h = header or Header("|", "|", "", "", "2.5", None, "utf-8")
    fs, comp = h.separators[0], h.separators[1]
    escape = _escaper(h.separators)
    event = h.kind.partition("^")[2]
    kind = f"ACK{comp}{event}{comp}ACK" if event else "ACK"
    stamp = now_in(PARIS).strftime("%Y%m%d%H%M%S%z")
    control = f"{time.time_ns() // 1000}{next(_ack_numbers) % 1000:03d}"
    msh = fs.join(["MSH", h.separators[1:], h.receiver.replace("|", fs, 1),
                   h.sender.replace("|", fs, 1), stamp, "", kind, control, h.processing,
                   h.version or "2.5", "", "", "", "", "", _HL7_CHARSET.get(h.charset, "")])
    segments = [msh.rstrip(fs), fs.join(["MSA", code, escape(h.control_id),
                                         escape(text or "")]).rstrip(fs)]
    if code not in ("AA", "CA"):
        segments.append(_error_segment(h, condition or "207", location, escape(text or "")))
    return ("\r".join(segments) + "\r").encode(h.charset, "replace")


def _error_segment(h: Header, condition: str, location: str, text: str) -> str:
    """ERR as the message's version writes it: from v2.5, ERR-2 location, ERR-3 condition,
    ERR-4 severity and ERR-8 text; before, ERR-1 alone (segment^sequence^field^code, the
    code's parts as sub-components), the text being in MSA-3."""
    fs, comp, sub = h.separators[0], h.separators[1], h.separators[4]
    parts = [condition, _CONDITIONS.get(condition, ""), "HL70357"]
    if _before_25(h.version):
        place = (location.split("^") + ["", "", ""])[:3]
        return fs.join(["ERR", comp.join([*place, sub.join(parts)])])
    return fs.join(["ERR", "", location.replace("^", comp), comp.join(parts), "E", "", "", "",
                    text])


def _before_25(version: str) -> bool:
    """Whether an HL7 version id is 2.1 to 2.4 (ERR had only its first field)."""
    numbers = re.match(r"2\.(\d+)", version)
    return numbers is not None and int(numbers.group(1)) < 5


_CONDITIONS = {"100": "Segment sequence error", "101": "Required field missing",
               "102": "Data type error", "200": "Unsupported message type",
               "201": "Unsupported event code", "207": "Application internal error"}


@functools.lru_cache(maxsize=16)
def _escaper(separators: str) -> Any:
    """Escape text for a field with these separators, by python-hl7's own escape."""
    container = hl7.Message(separators="\r" + separators[0] + separators[2] + separators[1]
                            + separators[4], esc=separators[3])
    return functools.partial(hl7.util.escape, container)
