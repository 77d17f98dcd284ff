"""The corpus of crafted vaults (tests/vault_corpus.py): one vault per reader rule of
docs/format.md, and the exact verdict of `releve vault verify VAULT` and of `releve vault
verify VAULT --identity KEY` for each, run in this process through Typer's CliRunner (and
twice for real, in a subprocess, to prove the command line path).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from releve.cli import app
from releve.vault.plaintext import record
from vault_corpus import O1_AS_O7
from vault_craft import CASES, P1, Corpus, Verdict, build_all, write_verdicts

from conftest import run_releve

ENV = {"COLUMNS": "400", "RELEVE_NOW": "2026-01-14T10:00:00+01:00"}
ANSI = re.compile(r"\x1b\[[0-9;]*m")



@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """Every case's vault, built once, with one set of keys."""
    built = build_all(tmp_path_factory.mktemp("corpus"))
    write_verdicts(built)
    return built


def lines(text: str) -> list[str]:
    """Non-empty lines, colours removed, whitespace runs joined (a narrow terminal wraps)."""
    return [" ".join(line.split()) for line in ANSI.sub("", text).splitlines() if line.strip()]


def check(verdict: Verdict, vault: Path, exit_code: int, stdout: str, stderr: str) -> None:
    """The exit status, the one line of the verdict on its stream, nothing on the other."""
    said = {"stdout": lines(stdout), "stderr": lines(stderr)}
    other = "stderr" if verdict.stream == "stdout" else "stdout"
    expected = " ".join(verdict.line(vault).split())
    shown = f"exit {exit_code}\nstdout: {stdout}\nstderr: {stderr}"
    assert exit_code == verdict.exit, shown
    assert len(said[verdict.stream]) == 1, shown
    if verdict.prefix:
        assert said[verdict.stream][0].startswith(expected), shown
    else:
        assert said[verdict.stream][0] == expected, shown
    assert said[other] == [], shown


def invoke(*args: str | Path) -> Result:
    result = CliRunner().invoke(app, [str(a) for a in args], env=ENV)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def params() -> list:
    """Every case, keyless and with the identity."""
    found = []
    for name in CASES:
        for mode in ("keyless", "identity"):
            found.append(pytest.param(name, mode, id=f"{name}-{mode}"))
    return found


@pytest.mark.parametrize(("name", "mode"), params())
def test_verdict(corpus: Corpus, name: str, mode: str) -> None:
    vault = corpus.vaults[name]
    extra = ("--identity", corpus.crafter.identity) if mode == "identity" else ()
    result = invoke("vault", "verify", vault, *extra)
    check(getattr(CASES[name], mode), vault, result.exit_code, result.stdout, result.stderr)


def test_the_last_id_of_a_record_is_its_id(corpus: Corpus) -> None:
    """A record with "id" twice is the resource of the last one (notation): `vault cat`
    prints a state with Observation/o7, which the delete of Observation/o1 that follows it
    in segment 2 left alone."""
    result = invoke("vault", "cat", corpus.vaults["record_id_twice"], "--identity", corpus.crafter.identity)
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.splitlines() == [P1, O1_AS_O7]
    keys = [record(line + b"\n", 2).key for line in result.stdout_bytes.splitlines()]
    assert keys == ["Patient/p1", "Observation/o7"]


@pytest.mark.parametrize(("name", "mode"), [("sound", "identity"), ("truncated_frame", "identity"),
                                            ("config_member_twice", "keyless")])
def test_verdict_through_a_subprocess(corpus: Corpus, name: str, mode: str) -> None:
    """The real command line, in its own process, gives the same verdicts."""
    vault = corpus.vaults[name]
    extra = ("--identity", corpus.crafter.identity) if mode == "identity" else ()
    result = run_releve("vault", "verify", vault, *extra, check=False, env=ENV, timeout=60)
    check(getattr(CASES[name], mode), vault, result.returncode, result.stdout.decode(),
          result.stderr.decode())


def test_verdicts_file_lists_every_case(corpus: Corpus) -> None:
    """verdicts.json, for a second implementation, names every case with both verdicts."""
    written = json.loads((corpus.folder / "verdicts.json").read_text())
    assert list(written["cases"]) == list(CASES)
    assert all(os.path.isdir(corpus.folder / name) for name in CASES)
    assert written["cases"]["sound"]["identity"]["text"].startswith("OK vault ")


def _zstd_d(corpus: Corpus, name: str) -> subprocess.CompletedProcess:
    """`age -d -i KEY segment 2 | zstd -d`, Debian's tools on a corpus vault."""
    segment = corpus.vaults[name] / "segments" / "0000000002.age"
    return subprocess.run(["sh", "-c", 'age -d -i "$1" "$2" | zstd -dcq', "-", corpus.crafter.identity,
                           segment], capture_output=True, timeout=60)


@pytest.mark.parametrize("name", ["truncated_frame", "dictionary", "big_window", "garbage_after_frames",
                                  "frame_checksum_wrong"])
def test_zstd_refuses_the_frames_a_reader_refuses(corpus: Corpus, name: str) -> None:
    """docs/format.md 12: `zstd -d` refuses these as 7.1 does (zstd is last in the pipe:
    its exit status is the pipe's)."""
    assert _zstd_d(corpus, name).returncode != 0


@pytest.mark.parametrize("name", ["many_frames", "window_2_27"])
def test_zstd_reads_what_a_reader_reads(corpus: Corpus, name: str) -> None:
    """The frames a reader must accept, `zstd -d` reads to the same plaintext that `vault
    cat --segment 2` prints."""
    printed = invoke("vault", "cat", corpus.vaults[name], "--identity", corpus.crafter.identity,
                     "--segment", "2")
    assert printed.exit_code == 0
    read = _zstd_d(corpus, name)
    assert read.returncode == 0 and read.stdout == printed.stdout_bytes
    assert read.stdout.count(b"\n") == 3  # the header and the two records


def test_zstd_skips_a_skippable_frame_that_a_reader_refuses(corpus: Corpus) -> None:
    """The one place the standard tools are laxer (docs/format.md 12)."""
    assert _zstd_d(corpus, "skippable_frame").returncode == 0
