"""`make demo` takes the demo's folder and port (DIR, PORT) and passes them to `releve
demo`; without them the command is the same as before (`releve demo`'s defaults)."""

from __future__ import annotations

import shlex
import shutil
import subprocess

import pytest

from conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def demo_command(*assignments: str) -> list[str]:
    """The `releve demo` line `make demo` would run (make -n runs nothing)."""
    shown = subprocess.run(["make", "-s", "-n", "-C", str(ROOT), "demo", *assignments],
                           capture_output=True, text=True, check=True).stdout
    line = next(line for line in shown.splitlines() if "releve demo" in line)
    return shlex.split(line)


def test_make_demo_passes_dir_and_port() -> None:
    command = demo_command("DIR=/tmp/une démo", "PORT=8100")
    assert command[-5:] == ["demo", "--dir", "/tmp/une démo", "--port", "8100"]


def test_make_demo_alone_keeps_the_defaults() -> None:
    assert demo_command()[-1] == "demo"
    assert demo_command("PORT=9000")[-3:] == ["demo", "--port", "9000"]
