"""Tampering: flipping any byte of any segment or signature, deleting, reordering or
replacing a segment, a segment signed by an unknown key, an edited config: `releve vault
verify` fails and names the segment. And the store itself refuses appends that would
break the log, leaving the disk as it was.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import os
import re
import shutil
from pathlib import Path

import orjson
import pyrage
import pytest
import zstandard
from pyrage import x25519

from releve.vault import format as fmt
from releve.vault.keys import create_signer, create_station_identity, load_identities, load_signer
from releve.vault.minisign import SecretKey, file_digest_bytes
from releve.vault.store import AppendRefused, LocalVault
from releve.vault.verify import verify

from conftest import run_releve

SEGMENTS = 4


# --- a small vault of 4 segments (3 imports, then a checkpoint), and others to steal from ------


@dataclasses.dataclass
class Built:
    root: Path
    vault: Path
    identity: Path
    recipient: str
    signer: SecretKey
    rogue: SecretKey  # a well-formed signer key the vault does not know
    rogue_pub: Path
    other_vault: Path  # another vault, same signer and recipient
    rogue_vault: Path  # another vault, signed by the rogue key
    fork: Path  # the same vault, forked after segment 1 (another segment 2)


def _ndjson(path: Path, resources: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in resources))
    return path


def _patients(version: int, count: int = 40) -> list[dict]:
    return [{"resourceType": "Patient", "id": f"p{i}", "meta": {"versionId": str(version)},
             "name": [{"family": f"Nom{i}", "given": [f"v{version}"]}]} for i in range(count)]


def _import(vault: Path, key: Path, state: Path, data: Path) -> str:
    return run_releve("import", "--vault", vault, "--signing-key", key, "--state", state,
                      data).stdout.decode()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    root = tmp_path_factory.mktemp("tamper")
    keys = root / "keys"
    identity, recipient = create_station_identity(keys, "station")
    key, pub, _ = create_signer(keys, "capture")
    rogue_key, rogue_pub, _ = create_signer(keys, "rogue")
    data = [_ndjson(root / f"v{v}.ndjson", _patients(v)[: 40 - 5 * v] if v else _patients(0))
            for v in range(3)]

    vault = root / "vault"
    LocalVault.init(vault, [recipient], [str(pub)], checkpoint_interval=3)
    assert "segment 1" in _import(vault, key, root / "state", data[0])
    fork = root / "fork"
    shutil.copytree(vault, fork)
    shutil.copytree(root / "state", root / "fork-state")
    assert "segment 2" in _import(vault, key, root / "state", data[1])
    out = _import(vault, key, root / "state", data[2])
    assert "segment 3 (delta)" in out and "segment 4 (full)" in out
    assert LocalVault(vault).sequence_numbers() == [1, 2, 3, 4]
    assert "segment 2" in _import(fork, key, root / "fork-state",
                                  _ndjson(root / "fork.ndjson", _patients(9, 3)))

    other = root / "other"
    LocalVault.init(other, [recipient], [str(pub)], checkpoint_interval=3)
    rogue_vault = root / "rogue-vault"
    LocalVault.init(rogue_vault, [recipient], [str(rogue_pub)], checkpoint_interval=3)
    for target, signing_key in ((other, key), (rogue_vault, rogue_key)):
        for v in range(2):
            _import(target, signing_key, root / f"state-{target.name}", data[v])
        assert LocalVault(target).sequence_numbers() == [1, 2]

    return Built(root, vault, identity, recipient, load_signer(key), load_signer(rogue_key),
                 rogue_pub, other, rogue_vault, fork)


@pytest.fixture
def vault(built, tmp_path) -> Path:
    """A fresh copy of the built vault, to tamper with."""
    copy = tmp_path / "vault"
    shutil.copytree(built.vault, copy)
    return copy


def seg(vault: Path, seq: int) -> Path:
    return vault / "segments" / fmt.segment_name(seq)


def sig(vault: Path, seq: int) -> Path:
    return vault / "segments" / fmt.signature_name(seq)


def verify_cli(vault: Path, *extra):
    result = run_releve("vault", "verify", vault, *extra, check=False)
    return result.returncode, result.stdout.decode() + result.stderr.decode()


def assert_intact(vault: Path, built: Built) -> None:
    for extra in ((), ("--identity", built.identity)):
        code, text = verify_cli(vault, *extra)
        assert code == 0, text
        assert "OK vault" in text and "BROKEN" not in text


def assert_broken(vault: Path, seq: int, *extra, reason: str | None = None) -> str:
    """verify fails, and the segments it names are exactly `seq`."""
    code, text = verify_cli(vault, *extra)
    assert code != 0, f"verify passed a tampered vault:\n{text}"
    assert "Traceback" not in text, text
    assert "OK vault" not in text, text
    named = set(re.findall(r"\bsegment (\d+)", text))
    assert named == {str(seq)}, f"expected segment {seq} to be named, got {named}:\n{text}"
    if reason is not None:
        assert reason.lower() in text.lower(), text
    return text


def flip(path: Path, offset: int, mask: int = 0x01) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= mask
    path.write_bytes(bytes(data))


# --- the untouched vault --------------------------------------------------------------------------


def test_intact_vault_verifies(built, vault):
    for extra in ((), ("--identity", built.identity)):
        code, text = verify_cli(vault, *extra)
        assert code == 0, text
        assert f"{SEGMENTS} segments (1 full)" in text
    assert "records decrypted and checked" in text


# --- segment bytes ----------------------------------------------------------------------------------


FLIPS = [(seq, where, False) for seq in range(1, SEGMENTS + 1)
         for where in ("first-byte", "header", "middle", "last-byte")]
FLIPS += [(seq, where, True) for seq, where in
          ((1, "middle"), (2, "last-byte"), (3, "first-byte"), (4, "header"))]


@pytest.mark.parametrize("seq, where, identity", FLIPS,
                         ids=[f"{s}-{w}-{'identity' if i else 'keyless'}" for s, w, i in FLIPS])
def test_flipped_byte_in_segment(built, vault, seq, where, identity):
    path = seg(vault, seq)
    size = path.stat().st_size
    offset = {"first-byte": 0, "header": 40, "middle": size // 2, "last-byte": size - 1}[where]
    flip(path, offset)
    extra = ("--identity", built.identity) if identity else ()
    assert_broken(vault, seq, *extra)


def test_every_byte_of_a_segment_is_covered(built, vault):
    """Library-level sweep (no subprocess per byte): whichever byte of segment 2 is
    flipped, verify names segment 2."""
    from releve.vault.chain import BrokenSegment

    path = seg(vault, 2)
    original = path.read_bytes()
    step = max(1, len(original) // 200)
    for offset in list(range(0, len(original), step)) + [len(original) - 1]:
        data = bytearray(original)
        data[offset] ^= 0x80
        path.write_bytes(bytes(data))
        with pytest.raises(BrokenSegment) as caught:
            verify(LocalVault(vault))
        assert caught.value.seq == 2, (offset, str(caught.value))
    path.write_bytes(original)
    verify(LocalVault(vault), load_identities(built.identity))


def test_appended_and_truncated_segment(built, vault):
    with open(seg(vault, 3), "ab") as handle:
        handle.write(b"\0")
    assert_broken(vault, 3)
    path = seg(vault, 3)
    path.write_bytes(path.read_bytes()[:-2])
    assert_broken(vault, 3)
    seg(vault, 2).write_bytes(b"")
    assert_broken(vault, 2)


# --- signature files ---------------------------------------------------------------------------------


def _edit_signature(path: Path, part: str, rogue: SecretKey | None = None) -> None:
    lines = path.read_text().split("\n")
    blob = bytearray(base64.b64decode(lines[1]))
    glob = bytearray(base64.b64decode(lines[3]))
    if part == "signature-bytes":
        blob[10 + 20] ^= 0x01
    elif part == "key-id":
        blob[2] ^= 0x01
    elif part == "algorithm-legacy":
        blob[0:2] = b"Ed"
    elif part == "trusted-comment":
        lines[2] = lines[2].replace('"kind":"', '"kind": "', 1)
        assert lines[2] != path.read_text().split("\n")[2]
    elif part == "trusted-comment-seq":
        lines[2] = re.sub(r'"seq":(\d+)', lambda m: f'"seq":{int(m.group(1)) + 1}', lines[2])
    elif part == "global-signature":
        glob[7] ^= 0x01
    elif part == "raw-byte-signature-line":
        raw = bytearray(lines[1].encode())
        raw[len(raw) // 2] ^= 0x01
        lines[1] = raw.decode("latin-1")
    elif part == "raw-byte-global-line":
        raw = bytearray(lines[3].encode())
        raw[5] ^= 0x01
        lines[3] = raw.decode("latin-1")
    elif part == "missing-global-signature":
        lines = lines[:3]
    elif part == "empty":
        lines = [""]
    if part in ("signature-bytes", "key-id", "algorithm-legacy"):
        lines[1] = base64.b64encode(bytes(blob)).decode()
    if part == "global-signature":
        lines[3] = base64.b64encode(bytes(glob)).decode()
    path.write_bytes("\n".join(lines).encode("latin-1"))


SIGNATURE_PARTS = ["signature-bytes", "key-id", "algorithm-legacy", "trusted-comment",
                   "trusted-comment-seq", "global-signature", "raw-byte-signature-line",
                   "raw-byte-global-line", "missing-global-signature", "empty"]


SIGNATURE_CASES = [(3, part) for part in SIGNATURE_PARTS] + \
    [(1, part) for part in ("signature-bytes", "trusted-comment", "global-signature")]


@pytest.mark.parametrize("seq, part", SIGNATURE_CASES, ids=[f"{s}-{p}" for s, p in SIGNATURE_CASES])
def test_tampered_signature_file(built, vault, seq, part):
    _edit_signature(sig(vault, seq), part)
    assert_broken(vault, seq)


@pytest.mark.parametrize("part", ["trusted-comment", "global-signature"])
def test_tampered_signature_file_with_identity(built, vault, part):
    _edit_signature(sig(vault, 4), part)
    assert_broken(vault, 4, "--identity", built.identity)


def test_every_byte_of_a_signature_file_is_covered(built, vault):
    """Flipping any byte of lines 2-4 of a .minisig breaks verification of that segment
    (line 1 is minisign's *untrusted* comment: free text, by design not signed)."""
    from releve.vault.chain import BrokenSegment

    path = sig(vault, 2)
    original = path.read_bytes()
    first_line_end = original.index(b"\n") + 1
    for offset in range(first_line_end, len(original) - 1):
        if original[offset:offset + 1] == b"\n":
            continue
        data = bytearray(original)
        data[offset] ^= 0x01
        path.write_bytes(bytes(data))
        with pytest.raises(BrokenSegment) as caught:
            verify(LocalVault(vault))
        assert caught.value.seq == 2, (offset, str(caught.value))
    path.write_bytes(original)
    verify(LocalVault(vault))


@pytest.mark.parametrize("line", [1, 3], ids=["signature", "global-signature"])
def test_padding_bits_of_a_signature_line_are_covered(built, vault, line):
    """The last base64 character before '=' carries bits the decoder drops; setting one
    must still break the segment, or a signature file would have two valid spellings."""
    import base64
    import string

    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"
    path = sig(vault, 2)
    lines = path.read_text().split("\n")
    text = lines[line]
    last = len(text.rstrip("=")) - 1
    index = alphabet.index(text[last])
    lines[line] = text[:last] + alphabet[index ^ 0x01] + text[last + 1:]
    assert base64.b64decode(lines[line]) == base64.b64decode(text)
    path.write_text("\n".join(lines))
    assert_broken(vault, 2, reason="canonical")


def test_untrusted_comment_is_not_signed(built, vault):
    """minisign's first line is an untrusted comment: editing it changes nothing."""
    path = sig(vault, 2)
    lines = path.read_text().split("\n")
    lines[0] = "untrusted comment: anything at all"
    path.write_text("\n".join(lines))
    assert_intact(vault, built)


# --- deleting, moving, reordering ----------------------------------------------------------------------


def test_deleted_middle_segment(built, vault):
    seg(vault, 2).unlink()
    sig(vault, 2).unlink()
    text = assert_broken(vault, 2, reason="missing")
    assert_broken(vault, 2, "--identity", built.identity)
    assert "1 to 3" in text


def test_deleted_first_segment(built, vault):
    seg(vault, 1).unlink()
    sig(vault, 1).unlink()
    assert_broken(vault, 1, reason="missing")


def test_deleted_signature_only(built, vault):
    sig(vault, 3).unlink()
    assert_broken(vault, 3, reason="signature")


def test_deleted_segment_file_only(built, vault):
    seg(vault, 3).unlink()
    assert_broken(vault, 3, reason="missing")


def _swap(a: Path, b: Path) -> None:
    tmp = a.with_name("swap.tmp")
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)


def test_swapped_segments_with_their_signatures(built, vault):
    _swap(seg(vault, 2), seg(vault, 3))
    _swap(sig(vault, 2), sig(vault, 3))
    assert_broken(vault, 2)
    assert_broken(vault, 2, "--identity", built.identity)


def test_swapped_first_and_last(built, vault):
    _swap(seg(vault, 1), seg(vault, 4))
    _swap(sig(vault, 1), sig(vault, 4))
    assert_broken(vault, 1)


def test_swapped_segment_files_only(built, vault):
    _swap(seg(vault, 2), seg(vault, 3))
    assert_broken(vault, 2)


def test_segment_renumbered_past_a_gap(built, vault):
    seg(vault, 4).rename(seg(vault, 5))
    sig(vault, 4).rename(sig(vault, 5))
    assert_broken(vault, 4, reason="missing")


def test_segment_duplicated_under_the_next_number(built, vault):
    shutil.copy(seg(vault, 4), seg(vault, 5))
    shutil.copy(sig(vault, 4), sig(vault, 5))
    assert_broken(vault, 5)


# --- segments from elsewhere ---------------------------------------------------------------------------


def test_segment_from_another_vault_same_signer(built, vault):
    shutil.copy(seg(built.other_vault, 2), seg(vault, 2))
    shutil.copy(sig(built.other_vault, 2), sig(vault, 2))
    assert_broken(vault, 2, reason="another vault")
    assert_broken(vault, 2, "--identity", built.identity)


def test_segment_from_another_vault_other_signer(built, vault):
    shutil.copy(seg(built.rogue_vault, 2), seg(vault, 2))
    shutil.copy(sig(built.rogue_vault, 2), sig(vault, 2))
    assert_broken(vault, 2, reason="unknown key")


def test_segment_from_a_fork_of_the_same_vault(built, vault):
    """A fork's segment 2 is genuine (same vault, same signer, chained on segment 1), so
    the break shows where the chain no longer holds: segment 3."""
    shutil.copy(seg(built.fork, 2), seg(vault, 2))
    shutil.copy(sig(built.fork, 2), sig(vault, 2))
    assert_broken(vault, 3, reason="chain")


def test_segment_signed_by_an_unknown_key(built, vault):
    """Segment 2's exact bytes and descriptor, re-signed by a key the vault does not list."""
    from releve.vault.minisign import Signature

    comment = Signature.parse(sig(vault, 2).read_bytes()).trusted_comment
    signature = built.rogue.sign(file_digest_bytes(seg(vault, 2).read_bytes()), comment)
    sig(vault, 2).write_text(signature)
    text = assert_broken(vault, 2, reason="unknown key")
    assert built.rogue.public.key_id_hex in text
    assert_broken(vault, 2, "--identity", built.identity)


def make_segment(built: Built, vault: Path, seq: int, *, signer: SecretKey | None = None,
                 prev: str | None = None, vault_id: str | None = None, signed_seq: int | None = None,
                 recipients: list[str] | None = None, claimed_puts: int | None = None,
                 records: list[bytes] | None = None) -> tuple[bytes, str]:
    """A segment made by hand the way the writer makes one: header frame + records frame,
    zstd, age to the recipients, minisign signature whose trusted comment is the descriptor."""
    opened = LocalVault(vault)
    if prev is None:
        prev = opened.head()[1]
    records = records if records is not None else [
        orjson.dumps({"resourceType": "Patient", "id": f"new{i}"}) + b"\n" for i in range(3)]
    descriptor = fmt.Descriptor(
        vault=vault_id or opened.config.vault_id, seq=signed_seq or seq, prev=prev, kind="delta",
        time=fmt.utc_now(), source="by hand", puts=len(records) if claimed_puts is None else claimed_puts,
        deletes=0)
    header = fmt.Header(descriptor, {"Patient": {"put": descriptor.puts, "delete": 0}}).to_line()
    compress = zstandard.ZstdCompressor().compress
    plain = compress(header) + compress(b"".join(records))
    cipher = pyrage.encrypt(plain, [x25519.Recipient.from_str(r)
                                    for r in (recipients or [built.recipient])])
    signature = (signer or built.signer).sign(file_digest_bytes(cipher), descriptor.to_comment())
    return cipher, signature


def _put(vault: Path, seq: int, made: tuple[bytes, str]) -> None:
    seg(vault, seq).write_bytes(made[0])
    sig(vault, seq).write_text(made[1])


def test_handmade_segment_by_the_real_signer_verifies(built, vault):
    """The control for the tests below: a segment made by hand like the writer's passes,
    so what fails them is the one thing they change."""
    _put(vault, 5, make_segment(built, vault, 5))
    assert_intact(vault, built)
    out = run_releve("vault", "cat", vault, "--identity", built.identity, "--segment", "5").stdout
    assert b'"id":"new2"' in out


def test_new_segment_signed_by_an_unknown_key(built, vault):
    _put(vault, 5, make_segment(built, vault, 5, signer=built.rogue))
    assert_broken(vault, 5, reason="unknown key")
    assert_broken(vault, 5, "--identity", built.identity)


def test_writer_with_an_unlisted_key_is_refused(built, vault, tmp_path):
    """The real writer, given a signing key the vault does not list, writes nothing."""
    data = _ndjson(tmp_path / "x.ndjson", _patients(7, 2))
    rogue_key = built.root / "keys" / "rogue.minisign.key"
    result = run_releve("import", "--vault", vault, "--signing-key", rogue_key,
                        "--state", tmp_path / "state", data, check=False)
    assert result.returncode != 0
    assert "signer" in result.stderr.decode()
    assert LocalVault(vault).sequence_numbers() == [1, 2, 3, 4]
    assert_intact(vault, built)


def test_segment_whose_plaintext_contradicts_its_descriptor(built, vault):
    """Signed by the real key but holding 3 records where it claims 2: only a station's
    identity can see it, so only `verify --identity` fails."""
    _put(vault, 5, make_segment(built, vault, 5, claimed_puts=2))
    code, text = verify_cli(vault)
    assert code == 0, text
    assert_broken(vault, 5, "--identity", built.identity)


def test_segment_not_encrypted_to_the_station(built, vault, tmp_path):
    other_identity, other_recipient = create_station_identity(tmp_path / "k", "elsewhere")
    _put(vault, 5, make_segment(built, vault, 5, recipients=[other_recipient]))
    code, text = verify_cli(vault)
    assert code == 0, text
    assert_broken(vault, 5, "--identity", built.identity)


# --- the config --------------------------------------------------------------------------------------


def _edit_config(vault: Path, change) -> None:
    path = vault / fmt.CONFIG_NAME
    data = orjson.loads(path.read_bytes())
    change(data)
    os.chmod(path, 0o644)
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")


def test_config_with_a_signer_added(built, vault):
    rogue = built.rogue.public
    _edit_config(vault, lambda c: c["signers"].append({"key_id": rogue.key_id_hex,
                                                       "public_key": rogue.to_base64()}))
    assert_broken(vault, 1, reason="config")
    # and a segment by that signer does not help: the chain is anchored on the real config
    _put(vault, 5, make_segment(built, vault, 5, signer=built.rogue))
    assert_broken(vault, 1)


def test_config_with_a_recipient_added(built, vault, tmp_path):
    _, spy = create_station_identity(tmp_path / "k", "spy")
    _edit_config(vault, lambda c: c["recipients"].append(spy))
    assert_broken(vault, 1)
    assert_broken(vault, 1, "--identity", built.identity)


def test_config_with_another_vault_id(built, vault):
    _edit_config(vault, lambda c: c.update(vault_id="0123456789abcdef0123456789abcdef"))
    assert_broken(vault, 1)


def test_config_with_another_checkpoint_interval(built, vault):
    _edit_config(vault, lambda c: c.update(checkpoint_interval=7))
    assert_broken(vault, 1)


def test_config_reformatted(built, vault):
    """Same meaning, other bytes: the chain is anchored on the bytes."""
    path = vault / fmt.CONFIG_NAME
    path.write_bytes(path.read_bytes().rstrip(b"\n") + b"\n\n")
    assert_broken(vault, 1)


def test_config_unreadable(built, vault):
    (vault / fmt.CONFIG_NAME).write_bytes(b'{"format": "releve-vault", ')
    code, text = verify_cli(vault)
    assert code != 0
    assert "Traceback" not in text and "config" in text.lower(), text


def test_config_replaced_by_another_vaults(built, vault):
    shutil.copy(built.other_vault / fmt.CONFIG_NAME, vault / fmt.CONFIG_NAME)
    assert_broken(vault, 1)


# --- the store refuses appends that break the rules ---------------------------------------------------


def _snapshot(vault: Path) -> dict[str, str]:
    files = {p.relative_to(vault).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in [vault / fmt.CONFIG_NAME, *sorted((vault / "segments").iterdir())]}
    return files


def _refused(vault: Path, seq: int, made: tuple[bytes, str], conflict: bool | None = None) -> str:
    before = _snapshot(vault)
    opened = LocalVault(vault)
    with pytest.raises(AppendRefused) as caught:
        opened.append(seq, io.BytesIO(made[0]), made[1])
    if conflict is not None:
        assert caught.value.conflict == conflict
    assert _snapshot(vault) == before, "a refused append changed the vault"
    assert list((vault / fmt.STAGING_DIR).iterdir()) == [], "a refused append left a staged file"
    verify(opened)
    return str(caught.value)


def test_store_accepts_a_good_append(built, vault):
    """The control: the next number, chained on the head, signed by the vault's signer."""
    made = make_segment(built, vault, 5)
    info = LocalVault(vault).append(5, io.BytesIO(made[0]), made[1])
    assert info.seq == 5
    assert LocalVault(vault).sequence_numbers() == [1, 2, 3, 4, 5]
    report = verify(LocalVault(vault), load_identities(built.identity))
    assert report.segments == 5


def test_store_refuses_a_number_already_taken(built, vault):
    message = _refused(vault, 4, make_segment(built, vault, 4, prev=LocalVault(vault).info(3).sha256),
                       conflict=True)
    assert "5" in message


def test_store_refuses_a_gap(built, vault):
    _refused(vault, 6, make_segment(built, vault, 6), conflict=True)


def test_store_refuses_number_zero(built, vault):
    _refused(vault, 0, make_segment(built, vault, 5))


def test_store_refuses_a_wrong_prev(built, vault):
    message = _refused(vault, 5, make_segment(built, vault, 5, prev=LocalVault(vault).info(3).sha256))
    assert "chain" in message


def test_store_refuses_an_unknown_signer(built, vault):
    message = _refused(vault, 5, make_segment(built, vault, 5, signer=built.rogue))
    assert "unknown key" in message


def test_store_refuses_another_vaults_segment(built, vault):
    message = _refused(vault, 5, make_segment(built, vault, 5,
                                              vault_id="0123456789abcdef0123456789abcdef"))
    assert "another vault" in message


def test_store_refuses_a_signed_number_that_differs(built, vault):
    _refused(vault, 5, make_segment(built, vault, 5, signed_seq=6))


def test_store_refuses_bytes_that_do_not_match_the_signature(built, vault):
    cipher, signature = make_segment(built, vault, 5)
    altered = bytearray(cipher)
    altered[len(altered) // 2] ^= 0x01
    _refused(vault, 5, (bytes(altered), signature))


@pytest.mark.parametrize("signature", ["", "not a signature", "untrusted comment: x\n\n\n\n"])
def test_store_refuses_a_malformed_signature(built, vault, signature):
    cipher, _ = make_segment(built, vault, 5)
    _refused(vault, 5, (cipher, signature))
