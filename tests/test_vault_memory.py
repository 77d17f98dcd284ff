"""`releve vault cat` and `releve vault verify --identity` read a vault with bounded memory.

A vault of about 50 MB of plaintext (a full segment, then deltas that change and delete
resources, then a checkpoint and one more delta) is read by the real command line in a
subprocess; its peak resident memory (getrusage of a small launcher's children) must stay
well below the plaintext's size above what the same command needs for a tiny vault. And
`cat` must print exactly the current state: every resource last imported, once, and
nothing deleted.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import orjson

from conftest import RELEVE, Keys, run_releve

RESOURCES = 150_000
PADDING = 260  # bytes of note per Observation: about 50 MB of plaintext in all
CHANGED = 20_000
DELETED = 10_000


def _observation(number: int, version: int, rng: random.Random) -> bytes:
    note = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz ", k=PADDING))
    return orjson.dumps({"resourceType": "Observation", "id": f"obs-{number}",
                         "status": "final", "code": {"text": f"mesure {version}"},
                         "subject": {"reference": f"Patient/p{number % 997}"},
                         "valueQuantity": {"value": number + version / 10, "unit": "mmHg"},
                         "note": [{"text": note}]}) + b"\n"


def _import(vault: Path, keys: Keys, state: Path, path: Path, *extra: str) -> None:
    run_releve("import", "--vault", vault, "--signing-key", keys.signing_key, "--state", state,
               *extra, path)


def _build(tmp_path: Path, keys: Keys, vault: Path) -> tuple[dict[str, bytes], int]:
    """The vault's segments, and the state they add up to (key: line) with its size."""
    rng = random.Random(7)
    state = tmp_path / "writer"
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    expected = {f"Observation/obs-{n}": _observation(n, 0, rng) for n in range(RESOURCES)}
    (inputs / "full.ndjson").write_bytes(b"".join(expected.values()))
    _import(vault, keys, state, inputs / "full.ndjson", "--full")
    numbers = list(range(RESOURCES))
    for round_ in (1, 2):
        changed = rng.sample(numbers, CHANGED)
        lines = {n: _observation(n, round_, rng) for n in changed}
        for n, line in lines.items():
            expected[f"Observation/obs-{n}"] = line
        gone = rng.sample([n for n in numbers if n not in lines], DELETED // 2)
        for n in gone:
            del expected[f"Observation/obs-{n}"]
        removed = set(gone)
        numbers = [n for n in numbers if n not in removed]
        delta = inputs / f"delta-{round_}"
        delta.mkdir()
        (delta / "changed.ndjson").write_bytes(b"".join(lines.values()))
        bundle = {"resourceType": "Bundle", "type": "transaction",
                  "entry": [{"request": {"method": "DELETE", "url": f"Observation/obs-{n}"}}
                            for n in gone]}
        (delta / "deleted.json").write_bytes(orjson.dumps(bundle))
        _import(vault, keys, state, delta)
    run_releve("vault", "checkpoint", "--vault", vault, "--signing-key", keys.signing_key,
               "--state", state)
    last = {n: _observation(n, 3, rng) for n in rng.sample(numbers, 1000)}
    for n, line in last.items():
        expected[f"Observation/obs-{n}"] = line
    (inputs / "last.ndjson").write_bytes(b"".join(last.values()))
    _import(vault, keys, state, inputs / "last.ndjson")
    plaintext = sum(path.stat().st_size for path in inputs.rglob("*.ndjson"))
    return expected, plaintext


# A small process starts the command and reports its children's peak memory: measured
# from the test process itself, the figure would include the test's own memory, which a
# child created by fork(2) counts as its own until exec(2) (Linux keeps the maximum).
LAUNCHER = ("import resource, subprocess, sys\n"
            "with open(sys.argv[1], 'wb') as out:\n"
            "    code = subprocess.call(sys.argv[2:], stdout=out)\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
            "sys.exit(code)\n")


def _peak_rss(out: Path, *args: str | Path) -> int:
    """Run `releve ARGS` with stdout into `out`; its peak resident memory, in bytes."""
    result = subprocess.run([sys.executable, "-c", LAUNCHER, str(out), *RELEVE,
                             *map(str, args)], capture_output=True, timeout=600)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return int(result.stdout) * 1024  # kilobytes on Linux


def test_cat_and_verify_stream_with_bounded_memory(tmp_path: Path, keys: Keys) -> None:
    vault = tmp_path / "vault"
    run_releve("vault", "init", vault, "--recipient", keys.recipient,
               "--signer", keys.public_key, "--checkpoint-interval", "50")
    expected, plaintext = _build(tmp_path, keys, vault)
    assert plaintext > 40_000_000
    assert sorted(p.name for p in (vault / "segments").glob("*.age")) == \
        [f"{n:010d}.age" for n in range(1, 6)]

    tiny = tmp_path / "tiny"
    run_releve("vault", "init", tiny, "--recipient", keys.recipient, "--signer", keys.public_key)
    (tmp_path / "one.ndjson").write_bytes(_observation(1, 0, random.Random(1)))
    _import(tiny, keys, tmp_path / "tiny-writer", tmp_path / "one.ndjson")
    floor = _peak_rss(tmp_path / "tiny.out", "vault", "cat", tiny, "--identity", keys.identity)

    cat = _peak_rss(tmp_path / "cat.out", "vault", "cat", vault, "--identity", keys.identity)
    verify = _peak_rss(tmp_path / "verify.out", "vault", "verify", vault,
                       "--identity", keys.identity)
    assert (tmp_path / "verify.out").read_bytes().startswith(b"OK")
    limit = plaintext // 5  # what the command may need above its floor: 10 MB here
    assert cat - floor < limit, f"cat: {cat >> 20} MiB at peak, {floor >> 20} MiB for a tiny vault"
    assert verify - floor < limit, f"verify: {verify >> 20} MiB, {floor >> 20} MiB for a tiny vault"

    printed = (tmp_path / "cat.out").read_bytes().splitlines(keepends=True)
    assert len(printed) == len(expected)  # each resource once
    assert sorted(printed) == sorted(expected.values())
