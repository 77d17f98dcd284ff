"""A segment's age header, read without any key (format 6): the checks a keyless
verifier can make on the encryption.

The header is plain text before the encrypted payload: the version line, one stanza per
wrapped copy of the file key, then the MAC line. An X25519 stanza does not say whom it
is for (age hides it), so what can be checked without a key is the shape: a binary age
v1 file, not the ASCII armor; as many X25519 stanzas as the config has recipients; and
no stanza of another type except the random "grease" ones rage adds. pyrage reads the
header only while decrypting, so this reads it here (the grammar is a few lines of the
age specification).
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path

from .errors import VaultError

VERSION_LINE = b"age-encryption.org/v1\n"
ARMOR_LINE = b"-----BEGIN AGE ENCRYPTED FILE-----"
HEADER_MAX = 1 << 20  # bytes read at most to find the MAC line
FIRST_READ = 16 << 10  # what is read first: a stanza is about 100 bytes
_ARG = re.compile(rb"[\x21-\x7e]+")
_BODY_LINE = 64  # base64 characters of a full stanza body line


class EnvelopeError(VaultError):
    """An age header a reader must refuse, and why."""


class CutShort(EnvelopeError):
    """No MAC line in the bytes given: the header is longer, or the file ends first."""


def stanza_types(path: Path) -> list[str]:
    """The type of every stanza of the segment file's age header, in order (a few
    kilobytes read, up to 1 MiB for a header of many stanzas)."""
    with open(path, "rb") as handle:
        head = handle.read(FIRST_READ)
        try:
            return parse(head)
        except CutShort:
            if len(head) < FIRST_READ:
                raise
            return parse(head + handle.read(HEADER_MAX - FIRST_READ))


def parse(head: bytes) -> list[str]:
    """The stanza types of an age header found at the start of `head`."""
    if head.startswith(ARMOR_LINE):
        raise EnvelopeError("is ASCII-armored age; a vault holds binary age files only")
    if not head.startswith(VERSION_LINE):
        raise EnvelopeError("is not an age v1 file")
    lines = head[len(VERSION_LINE):].split(b"\n")
    types: list[str] = []
    position = 0
    while True:
        if position >= len(lines) - 1:  # the last piece is not a whole line
            raise CutShort("has an age header cut short or too long")
        line = lines[position]
        if line.startswith(b"--- "):
            _check_base64(line[4:], 32, "MAC")
            return types
        if not line.startswith(b"-> "):
            raise EnvelopeError("has a malformed age header (a line is neither a stanza nor "
                                "the MAC)")
        args = line[3:].split(b" ")
        if not all(_ARG.fullmatch(arg) for arg in args):
            raise EnvelopeError("has a malformed age header (a stanza's arguments)")
        types.append(args[0].decode("ascii"))
        position = _skip_body(lines, position + 1)


def _skip_body(lines: list[bytes], position: int) -> int:
    """The line after a stanza's body: full lines of 64 characters, then a shorter one."""
    while position < len(lines) - 1:
        line = lines[position]
        if len(line) > _BODY_LINE:
            raise EnvelopeError("has a malformed age header (a stanza body line is too long)")
        _check_base64(line, None, "stanza body")
        position += 1
        if len(line) < _BODY_LINE:
            return position
    raise CutShort("has an age header cut short or too long")


def _check_base64(text: bytes, size: int | None, what: str) -> None:
    """age's base64: standard alphabet, no padding, canonical."""
    padded = text + b"=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeError(f"has a malformed age header ({what} is not base64)") from None
    if b"=" in text or base64.b64encode(raw).rstrip(b"=") != text \
            or (size is not None and len(raw) != size):
        raise EnvelopeError(f"has a malformed age header ({what})")


def check_recipients(types: list[str], recipients: int) -> None:
    """One X25519 stanza per configured recipient, and nothing else but grease."""
    foreign = [kind for kind in types if kind != "X25519" and not kind.endswith("-grease")]
    if foreign:
        raise EnvelopeError(f"is encrypted to a recipient of type {foreign[0][:40]!r}, "
                            "not X25519")
    count = types.count("X25519")
    if count != recipients:
        raise EnvelopeError(f"is encrypted to {count} recipients, the config lists "
                            f"{recipients}")
