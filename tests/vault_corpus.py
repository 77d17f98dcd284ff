"""A corpus of crafted vaults, one per reader rule of docs/format.md, and the exact verdict
`releve vault verify VAULT` (keyless) and `releve vault verify VAULT --identity KEY` give
each.

Every case starts from the same sound vault and breaks exactly one rule, most of them in
segment 2:

- segment 1, delta: Patient/p1, Patient/p2;
- segment 2, delta: a put of Observation/o1, a delete of Patient/p2;
- segment 3, full: Patient/p1, Observation/o1.

A segment is made by hand, step by step, and every step can be overridden (`Seg`, in
vault_craft.py): record lines, the header line, the zstd frames, the age encryption, the
trusted comment, the signature file. Keys are made at run time, never kept in the
repository.

    python tests/vault_corpus.py OUT

writes every case's vault to OUT/CASE, the keys to OUT/keys and the verdicts to
OUT/verdicts.json, so that a second implementation of the format can be checked against
the same corpus (tests/test_vault_corpus.py checks this one).
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable
from pathlib import Path

import zstandard

from vault_craft import (
    BASE_TYPES,
    DEL_P2,
    O1,
    Crafter,
    Seg,
    broken,
    build_all,
    case,
    frame,
    ok,
    reference_frames,
    second,
    sound_vault,
    write_verdicts,
)

# --- the sound vault -------------------------------------------------------------------------------


@case("1, 7.5", identity=ok(records=6))
def sound(c: Crafter, path: Path) -> None:
    """The base vault, breaking nothing: two deltas and a full segment."""
    sound_vault(c, path)


# --- compression (7.1) -----------------------------------------------------------------------------


@case("7.1 rule 1", identity=broken("0000000002.age: a zstd frame is cut short (the compressed "
                                    "plaintext ends inside it)"))
def truncated_frame(c: Crafter, path: Path) -> None:
    """7.1: the compressed plaintext ends inside its last frame (cut 5 bytes short)."""
    sound_vault(c, path, second(frames=lambda h, b: frame(h, 3) + frame(b)[:-5]))


@case("7.1 rule 2", identity=broken("0000000002.age: compressed plaintext holds a skippable frame"))
def skippable_frame(c: Crafter, path: Path) -> None:
    """7.1: a skippable frame (magic 0x184D2A50) between the header frame and the records."""
    skippable = struct.pack("<II", 0x184D2A50, 4) + b"skip"
    sound_vault(c, path, second(frames=lambda h, b: frame(h, 3) + skippable + frame(b)))


@case("7.1 rule 4", identity=broken("0000000002.age: a zstd frame needs a window of 268435456 "
                                    "bytes, more than 134217728 (128 MiB)"))
def big_window(c: Crafter, path: Path) -> None:
    """7.1: a records frame declaring a window of 2^28 bytes (no content size)."""
    sound_vault(c, path, second(frames=_window(28)))


def _dictionary() -> zstandard.ZstdCompressionDict:
    line = b'{"resourceType":"Observation","id":"o%d","status":"final","valueQuantity":{"value":%d}}'
    samples: list[bytes | bytearray | memoryview] = [line % (i, i * 7 % 180) for i in range(1000)]
    return zstandard.train_dictionary(1024, samples)


@case("7.1 rule 3", identity=broken("0000000002.age: a zstd frame needs a dictionary"))
def dictionary(c: Crafter, path: Path) -> None:
    """7.1: the records frame is compressed with a trained zstd dictionary (its id in the
    frame header)."""
    trained = _dictionary()
    sound_vault(c, path, second(frames=lambda h, b: frame(h, 3) + frame(b, dict_data=trained)))


@case("7.1 rule 5", identity=broken("0000000002.age: compressed plaintext is damaged (not a zstd frame)"))
def garbage_after_frames(c: Crafter, path: Path) -> None:
    """7.1: 8 bytes that start no frame after the last frame."""
    sound_vault(c, path, second(frames=lambda h, b: reference_frames(h, b) + b"garbage!"))


def _checksum_flipped(header: bytes, body: bytes) -> bytes:
    records = bytearray(frame(body, write_checksum=True))
    records[-1] ^= 0x01  # the last byte is the frame's checksum
    return frame(header, 3) + bytes(records)


@case("7.1 rule 5", identity=broken("0000000002.age: compressed plaintext is damaged (",
                                    prefix=True))
def frame_checksum_wrong(c: Crafter, path: Path) -> None:
    """7.1 rule 5: the records frame's checksum does not match its content."""
    sound_vault(c, path, second(frames=_checksum_flipped))


@case("7.1, 7.2", identity=broken("empty plaintext"))
def empty_compressed(c: Crafter, path: Path) -> None:
    """7.1, 7.2: zero bytes of compressed plaintext (zero frames: an empty plaintext)."""
    sound_vault(c, path, second(frames=lambda h, b: b""))


def _many_frames(header: bytes, body: bytes) -> bytes:
    plain = header + body
    cuts = range(0, len(plain), 37)  # frames end in the middle of lines, of the header too
    return b"".join(frame(plain[at:at + 37], 5, write_checksum=True, write_content_size=False)
                    for at in cuts)


@case("7.1", identity=ok(records=6))
def many_frames(c: Crafter, path: Path) -> None:
    """7.1 (positive): the plaintext cut every 37 bytes into frames with a checksum and
    without a content size; frame boundaries mean nothing."""
    sound_vault(c, path, second(frames=_many_frames))


def _window(log: int) -> Callable[[bytes, bytes], bytes]:
    """The header frame, then the records in a frame declaring a window of 2^log bytes."""
    def frames(header: bytes, body: bytes) -> bytes:
        params = zstandard.ZstdCompressionParameters.from_level(3, window_log=log)
        stream = zstandard.ZstdCompressor(compression_params=params).compressobj()
        return frame(header, 3) + stream.compress(body) + stream.flush()
    return frames


@case("7.1 rule 4", identity=ok(records=6))
def window_2_27(c: Crafter, path: Path) -> None:
    """7.1 rule 4 (positive): a frame declaring a window of 2^27 bytes, the most a reader
    must accept."""
    sound_vault(c, path, second(frames=_window(27)))


# --- the header line (7.2, 7.3) --------------------------------------------------------------------


@case("8.3 shortening, 7.3 rule 6", identity=ok(records=6))
def long_text_shortened(c: Crafter, path: Path) -> None:
    """8.3 (positive): a source of 300 "é", 1,800 bytes once escaped: signed cut to 100
    characters (L = 200 does not fit in 1000 bytes), whole in the header."""
    sound_vault(c, path, second(source="é" * 300))


@case("7.3 rules 1, 4, 6", identity=ok(records=6))
def header_unknown_members(c: Crafter, path: Path) -> None:
    """7.3 (positive): members no rule names, in the header's "segment" object and beside
    it, are ignored, and not part of the descriptor compared (8.3 shortening)."""
    sound_vault(c, path, second(header=lambda member: {**member, "origin": "x" * 2000},
                                header_line=lambda line: line[:-2] + b',"note":"n"}\n'))


@case("7.2", identity=broken("plaintext does not end with a line feed"))
def header_without_lf(c: Crafter, path: Path) -> None:
    """7.2: the plaintext is the header line alone (no record), without its LF."""
    sound_vault(c, path, Seg([], header_line=lambda line: line[:-1]))


@case("7.2", identity=broken("plaintext header line is longer than 1 MiB"))
def header_too_long(c: Crafter, path: Path) -> None:
    """7.2: a header line over 1 MiB (a source text of 1.1 MiB; the signed descriptor carries
    it shortened, as a writer signs it)."""
    sound_vault(c, path, second(source="x" * ((11 << 20) // 10), header=lambda h: h))


@case("7.2", identity=broken("plaintext line 1 holds a carriage return"))
def header_cr(c: Crafter, path: Path) -> None:
    """7.2: a CR between two tokens of the header line (JSON whitespace, a line's fault)."""
    sound_vault(c, path, second(header_line=lambda line: line.replace(b'{"segment":',
                                                                      b'{"segment":\r', 1)))


@case("7.3 rule 1", identity=broken("plaintext header has a member twice ('seq')"))
def header_member_twice(c: Crafter, path: Path) -> None:
    """7.3 rule 1 (notation): "seq" twice in the header's segment object."""
    sound_vault(c, path, second(header_line=lambda line: line.replace(b'"seq":2,', b'"seq":2,"seq":2,', 1)))


@case("7.3 rule 3", identity=broken("plaintext header lacks types"))
def header_types_missing(c: Crafter, path: Path) -> None:
    """7.3 rule 3: the header has no types."""
    sound_vault(c, path, second(header=lambda h: {k: v for k, v in h.items() if k != "types"}))


@case("7.3 rule 5", identity=broken("plaintext header types must be an object"))
def header_types_not_object(c: Crafter, path: Path) -> None:
    """7.3 rule 5: "types":[]."""
    sound_vault(c, path, second(header=lambda h: {**h, "types": []}))


@case("7.3 rule 5", identity=broken("plaintext header types: 'patient' is not a resource type"))
def header_types_bad_name(c: Crafter, path: Path) -> None:
    """7.3 rule 5: a types member named "patient"."""
    sound_vault(c, path, second(types={"Observation": {"put": 1, "delete": 0},
                                       "patient": {"put": 0, "delete": 1}}))


NOT_BOTH_0 = 'must be {"put": P, "delete": D}, not both 0'


@case("7.3 rule 5", identity=broken(f"plaintext header types: 'Practitioner' {NOT_BOTH_0}"))
def header_types_zero(c: Crafter, path: Path) -> None:
    """7.3 rule 5: a type listed with {"put":0,"delete":0}."""
    sound_vault(c, path, second(types={**BASE_TYPES, "Practitioner": {"put": 0, "delete": 0}}))


@case("7.3 rule 5", identity=broken(f"plaintext header types: 'Observation' {NOT_BOTH_0}"))
def header_types_extra_member(c: Crafter, path: Path) -> None:
    """7.3 rule 5: a type's counts with a third member, {"put":1,"delete":0,"x":0}."""
    sound_vault(c, path, second(types={**BASE_TYPES, "Observation": {"put": 1, "delete": 0, "x": 0}}))


@case("7.3 rule 5", identity=broken("plaintext header types are not sorted by name"))
def header_types_unsorted(c: Crafter, path: Path) -> None:
    """7.3 rule 5: Patient listed before Observation."""
    sound_vault(c, path, second(types={"Patient": {"put": 0, "delete": 1},
                                       "Observation": {"put": 1, "delete": 0}}))


@case("7.3 rule 5", identity=broken("plaintext header types do not add up to its puts and deletes"))
def header_types_sum(c: Crafter, path: Path) -> None:
    """7.3 rule 5: the types add up to 2 puts, the header (and the descriptor) say 1."""
    sound_vault(c, path, second(types={**BASE_TYPES, "Observation": {"put": 2, "delete": 0}},
                                counts=(1, 1)))


@case("7.3 rule 7", identity=broken("plaintext header types do not match its records ('Observation')"))
def header_types_wrong_split(c: Crafter, path: Path) -> None:
    """7.3 rule 7: the sums are right (1 put, 1 delete) but split the wrong way between the
    types: Observation delete 1, Patient put 1; the records are the other way round."""
    sound_vault(c, path, second(types={"Observation": {"put": 0, "delete": 1},
                                       "Patient": {"put": 1, "delete": 0}}))


@case("7.3 rule 6", identity=broken("plaintext header differs from the signed descriptor"))
def header_differs(c: Crafter, path: Path) -> None:
    """7.3 rule 6: the header's time is one second after the signed descriptor's."""
    sound_vault(c, path, second(header=lambda h: {**h, "time": "2026-01-14T09:00:01.000000Z"}))


@case("8.3, 7.3 rule 4", keyless=broken("descriptor time is not YYYY-MM-DDTHH:MM:SS.ffffffZ"))
def header_bad_time(c: Crafter, path: Path) -> None:
    """8.3 (and 7.3 rule 4): header and signed descriptor both say "2026-01-14 09:00:00"."""
    sound_vault(c, path, second(time="2026-01-14 09:00:00"))


@case("7.3 rule 2", identity=broken("plaintext header is not format 1"))
def header_format_2(c: Crafter, path: Path) -> None:
    """7.3 rule 2: "format":2."""
    sound_vault(c, path, second(header=lambda h: {**h, "format": 2}))


# --- record lines (7.2, 7.4) -----------------------------------------------------------------------


@case("7.2", identity=broken("plaintext line 3 holds a carriage return"))
def record_cr(c: Crafter, path: Path) -> None:
    """7.2: a CR as JSON whitespace inside line 3 (the delete)."""
    sound_vault(c, path, second(O1, b'{"delete":\r{"resourceType":"Patient","id":"p2"}}'))


@case("7.2", identity=broken("plaintext line 3 is empty"))
def record_empty_line(c: Crafter, path: Path) -> None:
    """7.2: an empty line between the two records."""
    sound_vault(c, path, second(O1, b"", DEL_P2))


@case("7.2", identity=broken("plaintext line 3 is not UTF-8"))
def record_not_utf8(c: Crafter, path: Path) -> None:
    """7.2: the byte 0xFF inside a string of line 3."""
    sound_vault(c, path, second(O1, b'{"resourceType":"Patient","id":"p2","name":[{"family":"Dup\xffont"}]}'))


@case("7.4", identity=broken("plaintext line 3 is not JSON"))
def record_not_json(c: Crafter, path: Path) -> None:
    """7.4: line 3 is the delete without its last brace (the header counts it as meant)."""
    sound_vault(c, path, second(O1, DEL_P2[:-1], types=BASE_TYPES))


@case("7.4", identity=broken("plaintext line 3 is a resource that begins like a delete"))
def record_put_like_delete(c: Crafter, path: Path) -> None:
    """7.4: a put (it has resourceType) whose line begins with {"delete":."""
    sound_vault(c, path, second(O1, b'{"delete":{"resourceType":"Patient","id":"p2"},'
                                    b'"resourceType":"Patient","id":"p9"}'))


@case("7.4", identity=broken("plaintext line 3 has an invalid resource type"))
def record_bad_type(c: Crafter, path: Path) -> None:
    """7.4: a put of "resourceType":"patient"."""
    sound_vault(c, path, second(O1, b'{"resourceType":"patient","id":"p2"}'))


@case("7.4", identity=broken("plaintext line 3 has an invalid id"))
def record_bad_id(c: Crafter, path: Path) -> None:
    """7.4: a put of "id":"a/b"."""
    sound_vault(c, path, second(O1, b'{"resourceType":"Patient","id":"a/b"}'))


@case("7.4", identity=broken("plaintext line 3 has an invalid id"))
def record_delete_bad_id(c: Crafter, path: Path) -> None:
    """7.4: a delete of Patient "a/b"."""
    sound_vault(c, path, second(O1, b'{"delete":{"resourceType":"Patient","id":"a/b"}}'))


@case("7.4", identity=broken("plaintext line 3 lacks resourceType or id"))
def record_null_type_with_delete(c: Crafter, path: Path) -> None:
    """7.4: "resourceType":null beside a delete member: a put (it has the member) without a
    string resourceType, not a delete."""
    sound_vault(c, path, second(O1, b'{"resourceType":null,"delete":{"resourceType":"Patient","id":"p2"}}',
                                types=BASE_TYPES))


@case("7.2", identity=broken("plaintext does not end with a line feed"))
def record_no_final_lf(c: Crafter, path: Path) -> None:
    """7.2: the last record has no LF."""
    sound_vault(c, path, second(body=lambda body: body[:-1]))


@case("7.3 rule 7, 8.3", identity=broken("holds 1 puts and 1 deletes, its signature says 2 and 1"))
def record_counts(c: Crafter, path: Path) -> None:
    """7.3 rule 7: header and descriptor say 2 puts of Observation; one is there."""
    sound_vault(c, path, second(types={**BASE_TYPES, "Observation": {"put": 2, "delete": 0}}))


O1_AS_O7 = b'{"resourceType":"Observation","id":"o1","id":"o7","status":"final","subject":{"reference":"Patient/p1"}}'


DEL_O1 = b'{"delete":{"resourceType":"Observation","id":"o1"}}'


@case("notation, 7.4", identity=ok(2, 0, records=5), keyless=ok(2, 0))
def record_id_twice(c: Crafter, path: Path) -> None:
    """Notation (a member name twice in a record: the last one counts), positive: a put
    with "id" twice is Observation/o7, so the delete of Observation/o1 after it deletes
    nothing. Segments 1 and 2 only: the state holds Patient/p1 and Observation/o7."""
    sound_vault(c, path, second(O1_AS_O7, DEL_P2, DEL_O1), third=False)


@case("7.4", identity=ok(records=6))
def delete_with_whitespace(c: Crafter, path: Path) -> None:
    """7.4 (positive): a delete with JSON whitespace and its members in the other order."""
    sound_vault(c, path, second(O1, b'{ "delete" : { "id" : "p2", "resourceType" : "Patient" } }'))


import vault_corpus_keyless  # noqa: E402,F401  (its cases come after these)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python tests/vault_corpus.py OUT", file=sys.stderr)
        return 2
    out = Path(argv[0])
    if out.exists() and any(out.iterdir()):
        print(f"{out} exists and is not empty", file=sys.stderr)
        return 2
    corpus = build_all(out)
    path = write_verdicts(corpus)
    print(f"{len(corpus.vaults)} vaults, keys and {path.name} written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
