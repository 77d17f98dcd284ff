"""`releve import` never imports less than it was given while saying it succeeded: every
input is read whole or the import is refused, naming the file, with nothing written;
and a --full import that leaves out a large share of the vault is marked suspect.

Every case runs the real `releve import` in a subprocess, on real files built here.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from releve.vault.store import LocalVault
from test_import_errors import assert_nothing_written, assert_refused, current_state, do_import, good_line, stderr_of


def _chmod_stops_reading() -> bool:
    """False as root (or with CAP_DAC_OVERRIDE), which reads a chmod 000 file anyway."""
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "probe"
        probe.write_bytes(b"x")
        probe.chmod(0)
        try:
            probe.read_bytes()
        except PermissionError:
            return True
        return False


NEEDS_PERMISSIONS = pytest.mark.skipif(not _chmod_stops_reading(), reason=(
    "runs as root (or with CAP_DAC_OVERRIDE), which reads a chmod 000 file or folder anyway; "
    "test_a_fifo_is_refused_not_waited_on covers what cannot be read even so"))


def lines(first: int, last: int) -> bytes:
    return b"".join(good_line(i) + b"\n" for i in range(first, last + 1))


def patients(first: int, last: int) -> list[str]:
    return sorted(f"Patient/p{i}" for i in range(first, last + 1))


def segments(vault: Path) -> list[int]:
    return LocalVault(vault).sequence_numbers()


# --- compressed files cut short ---------------------------------------------------------------


def cut_at_a_line_end(kind: str, head: bytes, tail: bytes) -> bytes:
    """`head` then `tail` compressed as one stream, cut right after `head`: what a lenient
    reader gives back is exactly `head`, whole lines ending on a newline."""
    if kind == "gz":
        packer = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS | 16)
        cut = packer.compress(head) + packer.flush(zlib.Z_FULL_FLUSH)
        assert zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(cut) == head
        return cut
    if kind == "zst":
        packer = zstandard.ZstdCompressor().compressobj()
        cut = packer.compress(head) + packer.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
        reader = zstandard.ZstdDecompressor().stream_reader(cut, read_across_frames=True)
        assert reader.read() == head  # the stream reader does not see the missing end
        return cut
    # bzip2 and xz flush only at a stream's end: a whole first stream, the second cut short
    second = bz2.compress(tail) if kind == "bz2" else lzma.compress(tail)
    first = bz2.compress(head) if kind == "bz2" else lzma.compress(head)
    return first + second[: len(second) // 2]


@pytest.mark.parametrize("kind", ["gz", "zst", "bz2", "xz"])
def test_compressed_file_cut_at_a_line_end_is_refused(tmp_path, keys, vault_dir, kind):
    """The full import of a cut-short extract would make every station drop the patients
    it lost: refused, the vault and the writer's state as they were."""
    state = tmp_path / "state"
    whole = tmp_path / "whole.ndjson"
    whole.write_bytes(lines(1, 200))
    assert do_import(vault_dir, keys, state, whole).returncode == 0
    path = tmp_path / f"extract.ndjson.{kind}"
    path.write_bytes(cut_at_a_line_end(kind, lines(1, 100), lines(101, 200)))
    result = do_import(vault_dir, keys, state, path, extra=("--full",))
    assert_refused(result, path, None, "cut short")
    assert segments(vault_dir) == [1]
    assert sorted(current_state(vault_dir, keys)) == patients(1, 200)
    again = do_import(vault_dir, keys, state, whole)  # the state still knows all 200
    assert again.returncode == 0 and "nothing changed" in again.stdout.decode(), stderr_of(again)


@pytest.mark.parametrize("kind", ["gz", "zst", "bz2", "xz"])
def test_compressed_file_cut_mid_stream_is_refused(tmp_path, keys, vault_dir, kind):
    pack = {"gz": gzip.compress, "zst": zstandard.ZstdCompressor().compress,
            "bz2": bz2.compress, "xz": lzma.compress}[kind]
    data = pack(lines(1, 300))
    path = tmp_path / f"extract.ndjson.{kind}"
    path.write_bytes(data[: len(data) - 3])
    result = do_import(vault_dir, keys, tmp_path / "state", path)
    assert_refused(result, path, None, ("cut short", "decompress"))
    assert_nothing_written(vault_dir)


def test_gzip_with_a_wrong_crc_is_refused(tmp_path, keys, vault_dir):
    data = bytearray(gzip.compress(lines(1, 50)))
    data[-8] ^= 0xFF  # the trailer: CRC-32, then the length
    path = tmp_path / "extract.ndjson.gz"
    path.write_bytes(bytes(data))
    result = do_import(vault_dir, keys, tmp_path / "state", path)
    assert_refused(result, path, None, "decompress")
    assert_nothing_written(vault_dir)


def test_gzip_cut_short_in_a_json_document_is_one_clear_line(tmp_path, keys, vault_dir):
    bundle = b'{"resourceType":"Bundle","type":"collection","entry":[]}'
    path = tmp_path / "bundle.json.gz"
    path.write_bytes(gzip.compress(bundle)[:-4])
    result = do_import(vault_dir, keys, tmp_path / "state", path)
    assert_refused(result, path, None, "cut short")
    assert_nothing_written(vault_dir)


# --- every kind of compression read, every stream of it ---------------------------------------


MULTI_STREAM = {
    "gz": lambda a, b: gzip.compress(a) + gzip.compress(b) + b"\0" * 8,  # gzip padding
    "zst": lambda a, b: zstandard.ZstdCompressor().compress(a) + zstandard.ZstdCompressor().compress(b),
    "bz2": lambda a, b: bz2.compress(a) + bz2.compress(b),
    "xz": lambda a, b: lzma.compress(a) + b"\0" * 4 + lzma.compress(b),  # xz stream padding
}


@pytest.mark.parametrize("kind", sorted(MULTI_STREAM))
def test_every_stream_of_a_compressed_file_is_read(tmp_path, keys, vault_dir, kind):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / f"patients.ndjson.{kind}").write_bytes(MULTI_STREAM[kind](lines(1, 30), lines(31, 60)))
    result = do_import(vault_dir, keys, tmp_path / "state", folder)
    assert result.returncode == 0, stderr_of(result)
    assert sorted(current_state(vault_dir, keys)) == patients(1, 60)


@pytest.mark.parametrize("kind", ["bz2", "xz"])
def test_bz2_and_xz_bundles_given_by_name_are_read(tmp_path, keys, vault_dir, kind):
    bundle = (b'{"resourceType":"Bundle","type":"collection","entry":[{"resource":'
              + good_line(7) + b"}]}")
    path = tmp_path / f"bundle.json.{kind}"
    path.write_bytes(bz2.compress(bundle) if kind == "bz2" else lzma.compress(bundle))
    result = do_import(vault_dir, keys, tmp_path / "state", path)
    assert result.returncode == 0, stderr_of(result)
    assert sorted(current_state(vault_dir, keys)) == ["Patient/p7"]


def test_trailing_garbage_after_a_zstd_frame_is_refused(tmp_path, keys, vault_dir):
    path = tmp_path / "extract.ndjson.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(lines(1, 10)) + b"left over")
    result = do_import(vault_dir, keys, tmp_path / "state", path)
    assert_refused(result, path, None, ("decompress", "cut short"))
    assert_nothing_written(vault_dir)


# --- symbolic links -------------------------------------------------------------------------------


def test_links_named_on_the_command_line_are_followed(tmp_path, keys, vault_dir):
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.ndjson").write_bytes(lines(1, 5))
    (tmp_path / "b.ndjson").write_bytes(lines(6, 9))
    (tmp_path / "folder-link").symlink_to(real, target_is_directory=True)
    (tmp_path / "file-link.ndjson").symlink_to(tmp_path / "b.ndjson")
    result = do_import(vault_dir, keys, tmp_path / "state", tmp_path / "folder-link",
                       tmp_path / "file-link.ndjson")
    assert result.returncode == 0, stderr_of(result)
    assert sorted(current_state(vault_dir, keys)) == patients(1, 9)


@pytest.mark.parametrize("target", ["file", "folder", "nothing"])
def test_a_link_inside_a_folder_is_refused_by_name(tmp_path, keys, vault_dir, target):
    """rglob would follow a link to a file and pass over one to a folder: neither is
    what was meant for sure, so the import says so."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "more.ndjson").write_bytes(lines(6, 9))
    folder = tmp_path / "export"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.ndjson").write_bytes(lines(1, 5))
    link = folder / "sub" / ("more.ndjson" if target != "folder" else "more")
    link.symlink_to({"file": outside / "more.ndjson", "folder": outside,
                     "nothing": tmp_path / "gone.ndjson"}[target])
    result = do_import(vault_dir, keys, tmp_path / "state", folder)
    message = assert_refused(result, link, None, "symbolic link", "not followed")
    assert ("dangling" in message) == (target == "nothing")
    assert_nothing_written(vault_dir)


def test_a_dangling_link_on_the_command_line_is_refused(tmp_path, keys, vault_dir):
    (tmp_path / "a.ndjson").write_bytes(lines(1, 5))
    link = tmp_path / "b.ndjson"
    link.symlink_to(tmp_path / "gone.ndjson")
    result = do_import(vault_dir, keys, tmp_path / "state", tmp_path / "a.ndjson", link)
    assert_refused(result, link, None, "dangling")
    assert_nothing_written(vault_dir)


# --- what cannot be read ----------------------------------------------------------------------------


@NEEDS_PERMISSIONS
def test_an_unreadable_subfolder_is_refused_by_name(tmp_path, keys, vault_dir):
    folder = tmp_path / "export"
    (folder / "ward-b").mkdir(parents=True)
    (folder / "a.ndjson").write_bytes(lines(1, 5))
    (folder / "ward-b" / "b.ndjson").write_bytes(lines(6, 9))
    (folder / "ward-b").chmod(0)
    try:
        result = do_import(vault_dir, keys, tmp_path / "state", folder)
    finally:
        (folder / "ward-b").chmod(0o700)
    assert_refused(result, folder / "ward-b", None, "cannot read", "permission")
    assert_nothing_written(vault_dir)


def import_beside_a_good_file(tmp_path: Path, keys, vault: Path, where: str, name: str,
                              make: Callable[[Path], object]):
    """Import `name`, made by `make`, with a good file: both named, or their folder."""
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "a.ndjson").write_bytes(lines(1, 5))
    path = folder / name
    make(path)
    given = (folder / "a.ndjson", path) if where == "named" else (folder,)
    return do_import(vault, keys, tmp_path / "state", *given), path


def unreadable_gzip(path: Path) -> None:
    path.write_bytes(gzip.compress(lines(6, 9)))
    path.chmod(0)


@NEEDS_PERMISSIONS
@pytest.mark.parametrize("where", ["named", "in-a-folder"])
def test_an_unreadable_file_is_one_clear_line(tmp_path, keys, vault_dir, where):
    result, path = import_beside_a_good_file(tmp_path, keys, vault_dir, where, "b.ndjson.gz",
                                             unreadable_gzip)
    assert_refused(result, path, None, "cannot read", "permission")
    assert len(stderr_of(result).strip().splitlines()) == 1
    assert_nothing_written(vault_dir)


@pytest.mark.parametrize("where", ["named", "in-a-folder"])
def test_a_fifo_is_refused_not_waited_on(tmp_path, keys, vault_dir, where):
    """What cannot be read as a file, even by root: a FIFO where a file is expected."""
    result, fifo = import_beside_a_good_file(tmp_path, keys, vault_dir, where, "b.ndjson", os.mkfifo)
    assert_refused(result, fifo, None, "not a regular file")
    assert len(stderr_of(result).strip().splitlines()) == 1
    assert_nothing_written(vault_dir)


# --- files passed over, blank files ---------------------------------------------------------------


def test_files_passed_over_are_counted_by_suffix(tmp_path, keys, vault_dir):
    folder = tmp_path / "export"
    (folder / "docs").mkdir(parents=True)
    (folder / "patients.ndjson").write_bytes(lines(1, 5))
    (folder / "README.txt").write_bytes(b"not FHIR\n")
    (folder / "docs" / "a.csv").write_bytes(b"a,b\n")
    (folder / "docs" / "b.CSV").write_bytes(b"a,b\n")
    result = do_import(vault_dir, keys, tmp_path / "state", folder)
    assert result.returncode == 0, stderr_of(result)
    assert "3 files that are not FHIR (.csv: 2, .txt: 1)" in result.stdout.decode()
    assert sorted(current_state(vault_dir, keys)) == patients(1, 5)


@pytest.mark.parametrize("name", ["export.zip", "patients.ndjson.lz4", "old.tar"])
def test_an_archive_in_a_folder_is_refused_not_passed_over(tmp_path, keys, vault_dir, name):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "patients.ndjson").write_bytes(lines(1, 5))
    (folder / name).write_bytes(b"PK\x03\x04 something packed")
    result = do_import(vault_dir, keys, tmp_path / "state", folder)
    assert_refused(result, folder / name, None, "does not read")
    assert_nothing_written(vault_dir)


@pytest.mark.parametrize("name", ["blank.ndjson", "blank.ndjson.gz", "blank.ndjson.zst"])
def test_a_file_of_blank_lines_is_refused_as_empty(tmp_path, keys, vault_dir, name):
    blank = b"\n  \n\r\n\t\n" * 3
    path = tmp_path / name
    path.write_bytes(gzip.compress(blank) if name.endswith(".gz") else
                     zstandard.ZstdCompressor().compress(blank) if name.endswith(".zst") else blank)
    result = do_import(vault_dir, keys, tmp_path / "state", tmp_path / name, extra=("--full",))
    assert_refused(result, path, None, "empty")
    assert_nothing_written(vault_dir)


# --- a full import that leaves much out -----------------------------------------------------------


def full_import(tmp_path: Path, keys, vault: Path, data: bytes, *extra: str):
    path = tmp_path / "extract.ndjson"
    path.write_bytes(data)
    return do_import(vault, keys, tmp_path / "state", path, extra=("--full", *extra))


@pytest.mark.parametrize("case", ["fewer", "others"])
def test_a_full_import_dropping_many_is_suspect(tmp_path, keys, vault_dir, case):
    """'others': as many resources as before, but 60 of the 100 held are not among them;
    a count of resources alone would not see it."""
    assert full_import(tmp_path, keys, vault_dir, lines(1, 100)).returncode == 0
    data = lines(1, 40) if case == "fewer" else lines(1, 40) + lines(101, 160)
    result = full_import(tmp_path, keys, vault_dir, data)
    err = stderr_of(result)
    assert result.returncode == 3, err
    assert "segment 2 marked suspect: mass deletion: 60 of 100 resources" in err
    assert "will not adopt" in err
    descriptor = LocalVault(vault_dir).info(2).descriptor
    assert descriptor.kind == "full" and "mass deletion: 60 of 100" in (descriptor.suspect or "")
    assert sorted(current_state(vault_dir, keys)) == patients(1, 100)  # not adopted
    # the writer's state kept the last good state: the 100 are still known
    same = tmp_path / "same.ndjson"
    same.write_bytes(lines(1, 100))
    again = do_import(vault_dir, keys, tmp_path / "state", same)
    assert "nothing changed" in again.stdout.decode(), stderr_of(again)


def test_a_full_import_within_the_share_is_adopted(tmp_path, keys, vault_dir):
    assert full_import(tmp_path, keys, vault_dir, lines(1, 100)).returncode == 0
    result = full_import(tmp_path, keys, vault_dir, lines(1, 85) + lines(101, 120))
    assert result.returncode == 0, stderr_of(result)
    assert LocalVault(vault_dir).info(2).descriptor.suspect is None
    assert sorted(current_state(vault_dir, keys)) == sorted(patients(1, 85) + patients(101, 120))


def test_a_higher_share_lets_a_meant_full_import_through(tmp_path, keys, vault_dir):
    assert full_import(tmp_path, keys, vault_dir, lines(1, 100)).returncode == 0
    result = full_import(tmp_path, keys, vault_dir, lines(1, 40), "--max-delete-share", "0.7")
    assert result.returncode == 0, stderr_of(result)
    assert sorted(current_state(vault_dir, keys)) == patients(1, 40)
