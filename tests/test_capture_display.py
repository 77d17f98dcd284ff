"""A bulk export watched by hand: `releve capture --once` on a terminal shows the
export's X-Progress and its download on a progress line kept in place; without a
terminal (a log, a cron mail) the same are lines, as tests/test_bulk_faults.py reads
them."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
from pathlib import Path

from releve.demo.his.bulk import BulkFaults
from releve.vault.store import LocalVault
from test_bulk_faults import bulk, his  # noqa: F401 (his: the fixture)

from conftest import RELEVE


def on_a_terminal(*args: str | Path) -> tuple[int, str]:
    """Run `releve` with stdout and stderr on a pseudo-terminal; its exit status and
    everything it wrote there, escape sequences included."""
    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen([*RELEVE, *map(str, args)], stdin=subprocess.DEVNULL,
                               stdout=follower, stderr=follower, env=env)
    os.close(follower)
    shown = bytearray()
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        if not ready:
            process.kill()
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the other end closed: the command ended
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    return process.wait(timeout=60), shown.decode(errors="replace")


def test_on_a_terminal_progress_is_shown_in_place(his, tmp_path, keys, vault_dir):  # noqa: F811
    his.exports.faults = BulkFaults(slow=2)
    code, shown = on_a_terminal(
        "capture", "--vault", vault_dir, "--fhir", his.base, "--signing-key", keys.signing_key,
        "--state", tmp_path / "state", "--once", "--mode", "bulk")
    assert code == 0, shown
    assert LocalVault(vault_dir).sequence_numbers() == [1]
    assert "\x1b[?25l" in shown  # a live display (the cursor hidden while it runs)
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    assert "export: preparing the files: poll 1 of 2" in plain
    assert not re.search(r"^export: preparing the files", plain, re.MULTILINE)  # not a line
    assert "/?" not in plain  # no file count before the manifest gives one
    files = re.findall(r"export: downloading, [\d.]+ MB ━+ (\d+)/(\d+)", plain)
    assert files and files[-1][0] == files[-1][1], plain  # every file counted, in place
    assert re.search(rf"export: {files[-1][1]} files downloaded, \d+ bytes", plain)
    assert "segment 1 (full): 180 put" in plain


def test_without_a_terminal_progress_stays_lines(his, tmp_path, keys, vault_dir):  # noqa: F811
    his.exports.faults = BulkFaults(slow=2)
    done = bulk(vault_dir, keys, tmp_path / "state", his.base)
    out = done.stdout.decode()
    assert "\x1b[" not in out + done.stderr.decode()
    assert re.search(r"^export: preparing the files: poll 1 of 2$", out, re.MULTILINE)
    assert re.search(r"^export: \d+ files downloaded, \d+ bytes$", out, re.MULTILINE), out
