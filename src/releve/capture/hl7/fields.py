"""The fields of a message parsed by python-hl7, as values: its nested lists walked,
its escapes undone with the message's own encoding characters, empty and `""` (the HL7
null) read as None.

python-hl7 hands back nested lists whose leaves are escaped text, and a leaf may stand
for a whole repetition or component when nothing deeper was written: `Rep.get` walks
that shape, so that the readers of datatypes.py and the mappings never meet an escape
sequence or a null marker.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import hl7.util

if TYPE_CHECKING:
    from .message import Message

# python-hl7 logs the whole field when an escape sequence is unknown: that is patient
# data, and a log must never hold any. A filter that drops every record, because
# `disabled` alone is undone by any later logging.config call that keeps existing
# loggers (uvicorn's does, in a process that also serves HTTP).
hl7.util.logger.disabled = True
hl7.util.logger.addFilter(lambda record: False)

Unescape = Callable[[str], str]


def unescaper(parsed: Any, charset: str) -> Unescape:
    """The unescape of one message: python-hl7's, with the highlight marks (\\H\\ \\N\\)
    dropped instead of turned into "_", hexadecimal bytes (\\Xhh..\\) read in the
    message's own character set rather than as code points, character set switches
    (\\Cxxyy\\ \\Mxxyyzz\\, not supported) dropped without python-hl7's warning, and a
    line break (\\.br\\) given as FHIR's newline."""
    esc = parsed.esc
    coded = _coded_escape(esc)

    def unescape(text: str) -> str:
        if esc not in text:
            return text
        app_map = {"H": "", "N": ""}
        for kind, digits in coded.findall(text):
            app_map[kind + digits] = (bytes.fromhex(digits).decode(charset, "replace")
                                      if kind == "X" and len(digits) % 2 == 0 else "")
        return parsed.unescape(text, app_map).replace("\r", "\n")

    return unescape


@functools.lru_cache(maxsize=8)
def _coded_escape(esc: str) -> re.Pattern[str]:
    """Escapes made of a letter and hexadecimal digits: \\X..\\, \\C..\\, \\M..\\."""
    return re.compile(re.escape(esc) + r"([XCM])([0-9A-Fa-f]+)" + re.escape(esc))


class Rep:
    """One repetition of a field: its components and sub-components, unescaped."""

    __slots__ = ("_node", "_unescape")

    def __init__(self, node: Any, unescape: Unescape) -> None:
        self._node = node
        self._unescape = unescape

    def get(self, component: int = 1, sub: int = 1) -> str | None:
        """A component (1-based), or one of its sub-components; None if empty or null."""
        node = self._node
        for index in (component, sub):
            if isinstance(node, str):
                if index != 1:
                    return None
            elif index <= len(node):
                node = node[index - 1]
            else:
                return None
        while not isinstance(node, str):  # a deeper level than asked: its first leaf
            node = node[0] if node else ""
        if not node or node == '""':
            return None
        return self._unescape(node)

    def authority(self, component: int) -> str:
        """An HD component as a key part: its universal id (an OID, usually) when there is
        one, else its namespace id, else ""."""
        return self.get(component, 2) or self.get(component, 1) or ""

    def __repr__(self) -> str:  # never the value: it may be patient data
        return "Rep(...)"


def segments(m: Message, name: str) -> list[Any]:
    """Every segment of that name, in message order (none: an empty list)."""
    return [seg for seg in m.parsed if seg[0][0] == name]


def _written_reps(seg: Any, field: int) -> list[Any]:
    """The repetitions of a field as python-hl7 holds them: a field written without any
    separator is a list holding its text, which is then its only repetition."""
    if field >= len(seg):
        return []
    node = seg[field]
    if seg[0][0] == "MSH" and field <= 2:  # the separators themselves: not escaped
        return [str(node)]
    return [node[0]] if node and isinstance(node[0], str) else list(node)


def field_reps(seg: Any, field: int, unescape: Unescape) -> list[Rep]:
    """The repetitions of a field of a parsed segment, leaving out the empty ones."""
    if seg[0][0] == "MSH" and field <= 2:
        return [Rep(rep, str) for rep in _written_reps(seg, field)]
    return [Rep(rep, unescape) for rep in _written_reps(seg, field) if not _blank(rep)]


def _blank(rep: Any) -> bool:
    """Whether a repetition is empty or the HL7 null, written alone."""
    if not isinstance(rep, str):
        if len(rep) != 1 or not isinstance(rep[0], str):
            return False
        rep = rep[0]
    return rep in ("", '""')


def repetitions(m: Message, seg: Any, field: int) -> list[Rep]:
    """Every non-empty repetition of a field (1-based, numbered as the standard)."""
    return field_reps(seg, field, m.unescape)


def value(m: Message, seg: Any, field: int, component: int = 1, repetition: int = 1,
          sub: int = 1) -> str | None:
    """One value, unescaped; None when absent, empty or null."""
    if seg is None:
        return None
    reps = _written_reps(seg, field)
    if repetition > len(reps):
        return None
    if seg[0][0] == "MSH" and field <= 2:
        return reps[0] or None
    return Rep(reps[repetition - 1], m.unescape).get(component, sub)
