"""The corpus's cases a verifier checks without a key (docs/format.md sections 4, 5, 6,
8): the age envelope, the signature file and its descriptor, the config, the layout.
Registered in vault_craft.CASES on import, after vault_corpus.py's own.
"""

from __future__ import annotations

import base64
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pyrage

from releve.vault import format as fmt
from releve.vault.minisign import SecretKey
from vault_craft import Crafter, broken, case, encrypt, ok, refused, second, sound_vault

# --- the age envelope (6) --------------------------------------------------------------------------


def armor(data: bytes) -> bytes:
    """age's ASCII armor: PEM-like, base64 in 64-column lines."""
    text = base64.b64encode(data).decode()
    lines = [text[at:at + 64] for at in range(0, len(text), 64)]
    return ("-----BEGIN AGE ENCRYPTED FILE-----\n" + "\n".join(lines)
            + "\n-----END AGE ENCRYPTED FILE-----\n").encode()


@case("6 rule 1", keyless=broken("is ASCII-armored age; a vault holds binary age files only"))
def armored(c: Crafter, path: Path) -> None:
    """6 rule 1: the segment file is age in ASCII armor."""
    sound_vault(c, path, second(cipher=lambda data, recipients: armor(encrypt(data, recipients))))


@case("6 rule 5", keyless=broken("is encrypted to 2 recipients, the config lists 1"))
def extra_recipient(c: Crafter, path: Path) -> None:
    """6 rule 5: encrypted to the station and to one more X25519 recipient."""
    stranger = c.stranger.to_public()
    sound_vault(c, path, second(cipher=lambda data, recipients: encrypt(data, [*recipients, stranger])))


@case("6 rule 4", keyless=broken("is encrypted to a recipient of type 'scrypt', not X25519"))
def passphrase(c: Crafter, path: Path) -> None:
    """6 rule 4: encrypted with a passphrase (an scrypt stanza)."""
    sound_vault(c, path, second(cipher=lambda data, _: pyrage.passphrase.encrypt(data, "corpus")))


@case("6 rule 2", keyless=broken("is not an age v1 file"))
def not_age(c: Crafter, path: Path) -> None:
    """6 rule 2: 512 random bytes, validly signed and chained."""
    noise = random.Random(6).randbytes(512)
    sound_vault(c, path, second(cipher=lambda data, _: noise))


@case("6, 11.2 step 1", identity=broken("0000000002.age: cannot decrypt with this identity, or damaged (",
                                        prefix=True))
def other_recipient(c: Crafter, path: Path) -> None:
    """6 (a keyless reader cannot tell), 11.2 step 1: encrypted to one X25519 recipient, not
    the vault's station."""
    stranger = c.stranger.to_public()
    sound_vault(c, path, second(cipher=lambda data, _: encrypt(data, [stranger])))


# --- the signature file and the descriptor (8.1 to 8.3) --------------------------------------------


def _edit_line(text: str, index: int, edit: Callable[[str], str]) -> str:
    lines = text.split("\n")
    lines[index] = edit(lines[index])
    return "\n".join(lines)


B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _unused_bit_set(line: str) -> str:
    """The same bytes, with an unused low bit of the last character before the padding set
    (74 bytes: the last character carries 2 unused bits)."""
    body = line.rstrip("=")
    last = B64[B64.index(body[-1]) | 1]
    return body[:-1] + last + line[len(body):]


@case("8.2 step 6", keyless=broken("global signature is not valid base64"))
def sig_line4_space(c: Crafter, path: Path) -> None:
    """8.2 step 6, notation (base64): a space at the end of line 4, not trimmed."""
    sound_vault(c, path, second(signature=lambda text: _edit_line(text, 3, lambda line: line + " ")))


@case("8.2 step 4", keyless=broken("signature is not canonical base64"))
def sig_line2_noncanonical(c: Crafter, path: Path) -> None:
    """8.2 step 4, notation (base64): line 2's last character before '=' has an unused bit
    set; it decodes to the same bytes."""
    sound_vault(c, path, second(signature=lambda text: _edit_line(text, 1, _unused_bit_set)))


@case("8.1, 8.2 step 1", identity=ok(records=6))
def sig_no_final_lf(c: Crafter, path: Path) -> None:
    """8.2 step 1 (positive): the signature file's line 4 has no LF."""
    sound_vault(c, path, second(signature=lambda text: text.removesuffix("\n")))


@case("8.2 step 1", identity=ok(records=6))
def sig_crlf(c: Crafter, path: Path) -> None:
    """8.2 step 1 (positive): every line of the signature file ends with CR LF."""
    sound_vault(c, path, second(signature=lambda text: text.replace("\n", "\r\n")))


@case("8.2 steps 7, 11", keyless=broken("signed by an unknown key (", prefix=True))
def sig_unknown_key_first(c: Crafter, path: Path) -> None:
    """8.2 order: signed by a key the config does not list, over a trusted comment that is
    not JSON: the unknown key is named (step 7), the comment never parsed (step 11)."""
    stranger = SecretKey.generate()
    sound_vault(c, path, second(signature=lambda text: stranger.sign(bytes(64), "not JSON")))


@case("8.2 steps 3, 4", keyless=broken("signature file has no trusted comment"))
def sig_no_trusted_comment_first(c: Crafter, path: Path) -> None:
    """8.2 order: line 3 lacks "trusted comment: " and line 2 is not base64: line 3 is
    judged first (step 3 before step 4)."""
    sound_vault(c, path, second(signature=lambda text: _edit_line(_edit_line(
        text, 2, lambda line: line.replace("trusted comment: ", "comment: ", 1)),
        1, lambda line: "!" + line[1:])))


@case("8.3, notation", keyless=broken("signed descriptor has a member twice ('seq')"))
def descriptor_member_twice(c: Crafter, path: Path) -> None:
    """Notation (member names twice), 8.3: a trusted comment with "seq" twice, validly signed."""
    sound_vault(c, path, second(comment=lambda text: text.replace('"seq":2,', '"seq":2,"seq":2,', 1)))


@case("8.3, notation", keyless=broken("descriptor field 'puts' is beyond 2^53 - 1"))
def descriptor_big_int(c: Crafter, path: Path) -> None:
    """Notation (integers), 8.3: a signed "puts" of 2^53."""
    sound_vault(c, path, second(comment=lambda text: text.replace('"puts":1,', f'"puts":{1 << 53},', 1)))


# --- the config (5) --------------------------------------------------------------------------------


def _replace(old: str, new: str) -> Callable[[bytes], bytes]:
    def edit(raw: bytes) -> bytes:
        assert old.encode() in raw, old
        return raw.replace(old.encode(), new.encode(), 1)
    return edit


def _edit_recipient(c: Crafter, edit: Callable[[str], str]) -> Callable[[bytes], bytes]:
    return _replace(f'"{c.recipient}"', f'"{edit(c.recipient)}"')


def _other_last_char(recipient: str) -> str:
    return recipient[:-1] + ("q" if recipient[-1] != "q" else "p")  # both in Bech32's alphabet


LOWER_BECH32 = "is not an age X25519 recipient in lower-case Bech32"


@case("5", keyless=refused(f"vault config: recipient '{{recipient}}' {LOWER_BECH32}"))
def config_recipient_bad_checksum(c: Crafter, path: Path) -> None:
    """5: the recipient's last Bech32 character changed (its checksum is wrong); the
    segments chain onto this config."""
    sound_vault(c, path, config=_edit_recipient(c, _other_last_char))


@case("5", keyless=refused(f"vault config: recipient '{{recipient}}' {LOWER_BECH32}"))
def config_recipient_upper(c: Crafter, path: Path) -> None:
    """5: the recipient written in upper case (valid Bech32, not as age writes it)."""
    sound_vault(c, path, config=_edit_recipient(c, str.upper))


@case("5", keyless=refused("vault config: a recipient is listed twice"))
def config_recipient_twice(c: Crafter, path: Path) -> None:
    """5: the same recipient listed twice (the segments are encrypted to both)."""
    sound_vault(c, path, config=_edit_recipient(c, lambda r: f'{r}",\n    "{r}'))


@case("5, notation", keyless=refused("vault config has a member twice ('version')"))
def config_member_twice(c: Crafter, path: Path) -> None:
    """Notation (member names twice), 5: "version" twice."""
    sound_vault(c, path, config=_replace('"version": 1,', '"version": 1,\n  "version": 1,'))


@case("5, 13.2", keyless=refused("vault config: bad signer entry", prefix=True))
def config_public_key_space(c: Crafter, path: Path) -> None:
    """5: a trailing space inside signers[0].public_key (nothing is trimmed)."""
    public = c.signer.public.to_base64()
    sound_vault(c, path, config=_replace(f'"{public}"', f'"{public} "'))


# --- the layout (4, 11.1) --------------------------------------------------------------------------


@case("4", keyless=refused("the vault has no segments folder (format 4): damaged, or not a vault"))
def no_segments_folder(c: Crafter, path: Path) -> None:
    """4: the segments folder is gone (config.json and tmp/ remain)."""
    sound_vault(c, path)
    shutil.rmtree(path / fmt.SEGMENTS_DIR)


@case("4, 11.1", keyless=broken("0000000002.age is not a regular file (a symbolic link, or another "
                                "kind of file): refused"))
def segment_is_folder(c: Crafter, path: Path) -> None:
    """4 (only files in segments/): segment 2's file replaced by a folder of the same name;
    its signature file stays."""
    sound_vault(c, path)
    segment = path / fmt.SEGMENTS_DIR / fmt.segment_name(2)
    segment.unlink()
    segment.mkdir(mode=0o700)
