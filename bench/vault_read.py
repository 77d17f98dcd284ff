#!/usr/bin/env python3
"""Benchmark: what the format revision 1.1 reader checks cost when reading a ~1 GB vault.

Readers now read zstd frame by frame (vault/frames.py) and check every record line
(vault/plaintext.py). On one vault, in one run, alternating: the standard tools' floor
(`age -d | zstd -dc` on every segment: age's authentication and zstd's decoding, no
more), `releve vault verify --identity` and `releve vault cat` with the current code and
with the code before this work (commit 919f704, exported and put ahead of the editable
install on PYTHONPATH, as bench/vault_import.py's --src does).

The vault (vault_import.py's replicated Synthea ndjson, imported in 4 batches, then a
`vault checkpoint`, so there are deltas and a full segment) is cached in the work dir.

Usage: .venv/bin/python bench/vault_read.py [--workdir DIR] [--size-mb N] [--repeat N]
Results: bench/results/vault_read.md and bench/results/vault_read.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
from pathlib import Path

from measure import host, scratch, version_of, warm_page_cache, write_results
from vault_import import MB, REPO_ROOT, Dataset, Releve, build_dataset, code_stamp, log, releve_executable, run_timed

RESULTS = REPO_ROOT / "bench" / "results"
OLD_COMMIT = "919f704"
BATCHES = 4
FLOOR = ('set -eo pipefail; for f in "$1"/segments/*.age; do '
         'age -d -i "$2" "$f" | zstd -dcq > /dev/null; done')
CAT = 'exec "$0" vault cat "$1" --identity "$2" > /dev/null'
ORDER = ["standard tools", "verify new", "verify old", "cat new", "cat old"]


def export_old(workdir: Path) -> Path:
    """The previous code as a plain folder: it shadows the editable install on PYTHONPATH,
    so both versions run in the same interpreter with the same dependencies."""
    target = workdir / "old"
    stamp = target / "COMMIT"
    if not (stamp.exists() and stamp.read_text() == OLD_COMMIT):
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", OLD_COMMIT, "src"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
        stamp.write_text(OLD_COMMIT)
    return target / "src"


def snapshot_new(workdir: Path) -> Path:
    """A copy of the working tree's src/, taken at the start and measured throughout: src/
    is being edited while this runs, and a repeat must not mix two versions."""
    target = workdir / "new"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(REPO_ROOT / "src", target / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return target / "src"


def plaintext_bytes(identity: Path, segment: Path) -> int:
    """A segment's plaintext size, read with the standard tools (the MB/s divide it)."""
    age = subprocess.Popen(["age", "-d", "-i", str(identity), str(segment)],
                           stdout=subprocess.PIPE)
    zstd = subprocess.Popen(["zstd", "-dcq"], stdin=age.stdout, stdout=subprocess.PIPE)
    assert age.stdout and zstd.stdout
    age.stdout.close()
    total = 0
    while chunk := zstd.stdout.read(1 << 20):
        total += len(chunk)
    if zstd.wait() or age.wait():
        raise SystemExit(f"age | zstd failed on {segment}")
    return total


def build_vault(workdir: Path, dataset: Dataset, exe: str) -> dict:
    """Import the data in BATCHES files at a time, then checkpoint: deltas and a full
    segment, as a vault in use holds. Cached: building it takes minutes, reading it is
    what is measured. Written with the current code (the writer's bytes did not change)."""
    built = Releve(workdir / "vault-run", exe, None)
    manifest_file = workdir / "vault.manifest.json"
    key = {"data_bytes": dataset.bytes, "files": dataset.files, "batches": BATCHES}
    if manifest_file.exists():
        manifest = json.loads(manifest_file.read_text())
        if manifest["key"] == key and all(
                (built.vault / "segments" / s["file"]).stat().st_size == s["bytes"]
                for s in manifest["segments"]):
            log(f"reusing cached vault in {built.vault}")
            return manifest
    log(f"building the vault in {built.vault}")
    shutil.rmtree(workdir / "vault-run", ignore_errors=True)
    built.init()
    paths = [str(p) for p in dataset.paths()]
    written = []
    for files in filter(None, (paths[batch::BATCHES] for batch in range(BATCHES))):
        out = run([exe, "import", *files, "--vault", str(built.vault), "--signing-key",
                   str(built.keys / "bench.minisign.key"), "--state", str(built.state)])
        match = re.search(r"segment (\d+) \((\w+)\): (\d+) put", out)
        assert match, out
        written.append((int(match[1]), match[2], int(match[3])))
    out = run([exe, "vault", "checkpoint", "--vault", str(built.vault), "--signing-key",
               str(built.keys / "bench.minisign.key"), "--state", str(built.state)])
    match = re.search(r"checkpoint: segment (\d+), (\d+) resources", out)
    assert match, out
    written.append((int(match[1]), "full", int(match[2])))
    segments = []
    for seq, kind, records in written:
        path = built.vault / "segments" / f"{seq:010d}.age"
        segments.append({"seq": seq, "kind": kind, "records": records, "file": path.name,
                         "bytes": path.stat().st_size,
                         "plaintext_bytes": plaintext_bytes(built.keys / "bench.key", path)})
    manifest = {"key": key, "vault": str(built.vault), "identity": str(built.keys / "bench.key"),
                "segments": segments}
    manifest_file.write_text(json.dumps(manifest, indent=2))
    return manifest


def run(command: list[str]) -> str:
    """An untimed step of the setup: its stdout, or the whole output on failure."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"failed: {' '.join(command)}\n{done.stdout}\n{done.stderr}")
    return done.stdout


def commands(exe: str, vault: str, identity: str, new_src: Path,
             old_src: Path) -> dict[str, tuple[list, dict]]:
    """Each measured command and its environment: both versions are put on PYTHONPATH,
    ahead of the editable install, so they run alike (same interpreter, same packages)."""
    plain_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    new_env = {**plain_env, "PYTHONPATH": str(new_src)}
    old_env = {**plain_env, "PYTHONPATH": str(old_src)}
    verify = [exe, "vault", "verify", vault, "--identity", identity]
    cat = ["sh", "-c", CAT, exe, vault, identity]
    return {"standard tools": (["bash", "-c", FLOOR, "floor", vault, identity], plain_env),
            "verify new": (verify, new_env), "verify old": (verify, old_env),
            "cat new": (cat, new_env), "cat old": (cat, old_env)}


def cat_digests(table: dict[str, tuple[list, dict]]) -> dict[str, str]:
    """sha256 of `vault cat`'s output, new and old, untimed: a cat new/old ratio means
    something only if both print the same state."""
    digests = {}
    for name in ("cat new", "cat old"):
        command, env = table[name]
        exe, vault, identity = command[3:]  # the sh -c wrapper's arguments
        process = subprocess.Popen([exe, "vault", "cat", vault, "--identity", identity],
                                   env=env, stdout=subprocess.PIPE)
        assert process.stdout
        digest = hashlib.sha256()
        while chunk := process.stdout.read(1 << 20):
            digest.update(chunk)
        if process.wait():
            raise SystemExit(f"{name} failed")
        digests[name] = digest.hexdigest()
    return digests


def repeat_once(table: dict[str, tuple[list, dict]], warm: list[Path], number: int) -> dict:
    """One pass over every command in the fixed order ORDER, each on a warm page cache."""
    runs = {}
    for name in ORDER:
        command, env = table[name]
        timed = run_timed(command, env=env, warm=warm)
        log(f"repeat {number + 1}: {name}: {timed.seconds:.2f} s")
        runs[name] = {"seconds": timed.seconds, "cpu_seconds": timed.cpu_seconds,
                      "max_rss_kb": timed.max_rss_kb,
                      "other_cpu_seconds": timed.other_cpu_seconds,
                      "stdout": timed.stdout.strip()[-500:]}
    return {"repeat": number + 1, "runs": runs}


def summarize(repeats: list[dict], verify_bytes: int, cat_bytes: int) -> dict:
    """Medians per command, MB/s over the plaintext each reads, and the ratios (time
    new/old: above 1 means the new code is slower), also as medians of per-repeat ratios,
    since each repeat's commands ran back to back under the same noise."""
    summary: dict = {}
    for name in ORDER:
        seconds = statistics.median(r["runs"][name]["seconds"] for r in repeats)
        plain = cat_bytes if name.startswith("cat") else verify_bytes
        summary[name] = {
            "seconds": seconds, "plaintext_bytes": plain, "mb_per_s": plain / MB / seconds,
            "cpu_seconds": statistics.median(r["runs"][name]["cpu_seconds"] or 0 for r in repeats),
            "max_rss_kb": max(r["runs"][name]["max_rss_kb"] or 0 for r in repeats)}
    pairs = {"verify new/old": ("verify new", "verify old"), "cat new/old": ("cat new", "cat old"),
             "verify new/standard tools": ("verify new", "standard tools")}
    summary["ratios"] = {label: {
        "of_medians": summary[a]["seconds"] / summary[b]["seconds"],
        "median_of_repeats": statistics.median(
            r["runs"][a]["seconds"] / r["runs"][b]["seconds"] for r in repeats),
        "cpu_of_medians": summary[a]["cpu_seconds"] / summary[b]["cpu_seconds"]}
        for label, (a, b) in pairs.items()}
    return summary


def machine() -> dict:
    """Where it ran, and the standard tools' versions: they are the peer measured."""
    zstd = version_of("zstd", "--version")
    return host(age=version_of("age", "--version"), zstd=" ".join(re.findall(r"v[\d.]+", zstd)))


def markdown(result: dict) -> str:
    """The report: setup, commands, the table of medians, the ratios, each repeat."""
    m, s, v, code = result["machine"], result["summary"], result["vault"], result["code"]
    segs = ", ".join(f"{x['seq']} {x['kind']} ({x['records']:,} records, "
                     f"{x['plaintext_bytes'] / MB:.0f} MB plaintext, {x['bytes'] / MB:.0f} MB stored)"
                     for x in v["segments"])
    edited = " (src/ was edited during the run; the copy is what was measured)" \
        if code["tree_changed_since"] else ""
    lines = [
        "# Reading a vault: format revision 1.1 reader checks vs before vs `age | zstd`", "",
        f"Generated by `bench/vault_read.py` on {m['date']}; {len(result['repeats'])} "
        "repeat(s), commands alternated within each, median shown.", "",
        f"- Machine: {m['cpu']}, {m['nproc']} cores, {m['memory_gb']} GB RAM, Linux "
        f"{m['kernel']}, Python {m['python']}, age {m['age']}, zstd {m['zstd']}. Shared and noisy: "
        "compare within a repeat (the per-repeat ratios) rather than absolute MB/s.",
        f"- New: a copy of the working tree's src/ taken at the start (HEAD {code['head'][:12]}, "
        f"src sha256 {code['src_sha256'][:12]}, "
        f"{'same as HEAD' if code['src_is_head'] else 'with uncommitted changes'}){edited}. "
        f"Old: commit {OLD_COMMIT} (`git archive {OLD_COMMIT} src`). Each on PYTHONPATH, ahead "
        "of the editable install.",
        f"- Vault: {result['input']['bytes'] / MB:.0f} MB of Synthea R4 ndjson "
        f"(bench/vault_import.py's data, {result['input']['replicas']} replicas with fresh ids), "
        f"imported in {BATCHES} batches then `releve vault checkpoint`: segments {segs}. "
        f"VAULT = {v['vault']}, IDENTITY = {v['identity']}.",
        "- Before each timed run: `sync`, then every vault file read once (page cache warm). "
        "Wall clock around the command, Python start-up included. MB = 10^6 bytes of "
        "plaintext: the whole vault for verify and the floor, the segments from the last full "
        "one on for cat (which decrypts them twice: a pass for the winners, one to print).",
        f"- `vault cat` output, new and old: {'identical' if result['cat_identical'] else '**DIFFERENT**'} "
        f"(sha256 {result['cat_digests']['cat new'][:16]}).", "",
        "Commands:", "",
        "- standard tools: `for f in VAULT/segments/*.age; do age -d -i IDENTITY $f | zstd -dcq > /dev/null; done`",
        "- verify: `releve vault verify VAULT --identity IDENTITY`",
        "- cat: `releve vault cat VAULT --identity IDENTITY > /dev/null`", "",
        "| command | seconds | plaintext MB | MB/s | CPU s | peak RSS |",
        "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name in ORDER:
        row = s[name]
        lines.append(f"| {name} | {row['seconds']:.2f} | {row['plaintext_bytes'] / MB:,.0f} | "
                     f"{row['mb_per_s']:.1f} | {row['cpu_seconds']:.1f} | "
                     f"{row['max_rss_kb'] / 1024:.0f} MiB |")
    lines += ["", "Ratios of times (above 1: the first named is slower; the per-repeat ratios compare "
              "runs made back to back, under the same noise):", "",
              "| ratio | wall, of medians | wall, median of per-repeat ratios | CPU s, of medians |",
              "| --- | ---: | ---: | ---: |"]
    lines += [f"| {label} | **{r['of_medians']:.2f}** | {r['median_of_repeats']:.2f} | "
              f"{r['cpu_of_medians']:.2f} |"
              for label, r in s["ratios"].items()]
    lines += ["", "Per repeat, wall seconds [CPU seconds the rest of the machine used]:", ""]
    for rep in result["repeats"]:
        lines.append(f"- repeat {rep['repeat']}: " + "; ".join(
            f"{name} {rep['runs'][name]['seconds']:.2f} "
            f"[{rep['runs'][name]['other_cpu_seconds'] or 0:.1f}]" for name in ORDER))
    lines += ["", f"`verify new` printed: {result['repeats'][-1]['runs']['verify new']['stdout']}", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/releve-bench-vault-read"),
                        help="scratch folder for data, the vault and the old code (never the repo)")
    parser.add_argument("--size-mb", type=float, default=1000, help="ndjson size, in 10^6 bytes")
    parser.add_argument("--repeat", type=int, default=3, help="passes over every command")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write results")
    args = parser.parse_args()
    workdir = scratch(args.workdir, REPO_ROOT)
    exe = releve_executable()
    dataset = build_dataset(workdir, args.size_mb)
    vault = build_vault(workdir, dataset, exe)
    new_src, old_src = snapshot_new(workdir), export_old(workdir)
    code = code_stamp(new_src)
    table = commands(exe, vault["vault"], vault["identity"], new_src, old_src)
    warm = sorted(p for p in Path(vault["vault"]).rglob("*") if p.is_file())
    warm_page_cache(warm)
    repeats = [repeat_once(table, warm, number) for number in range(args.repeat)]
    digests = cat_digests(table)
    segments = vault["segments"]
    last_full = max(i for i, x in enumerate(segments) if x["kind"] == "full")
    verify_bytes = sum(x["plaintext_bytes"] for x in segments)
    cat_bytes = sum(x["plaintext_bytes"] for x in segments[last_full:])
    code["tree_changed_since"] = code_stamp(None)["src_sha256"] != code["src_sha256"]
    result = {"machine": machine(), "code": code, "old_commit": OLD_COMMIT,
              "input": {"bytes": dataset.bytes, "files": len(dataset.files),
                        "replicas": dataset.replicas, "resources": dataset.resources},
              "vault": vault, "cat_digests": digests,
              "cat_identical": digests["cat new"] == digests["cat old"],
              "summary": summarize(repeats, verify_bytes, cat_bytes), "repeats": repeats}
    write_results(args.results, "vault_read", result, markdown(result))


if __name__ == "__main__":
    main()
