"""What the benchmarks measure besides wall time, shared by every script in bench/:
the machine they ran on, the CPU the rest of the machine used, the peak RSS of a
process tree, folder sizes, and a warm page cache so that no run pays for a cold disk."""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import platform
import re
import subprocess
import threading
from pathlib import Path
from typing import Any


def host(**tools: str) -> dict[str, Any]:
    """Where it ran (figures compare only on one machine), with the versions of the
    `tools` measured beside Relève, by name."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    meminfo = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
    return {
        "cpu": model.group(1).strip() if model else platform.processor(),
        "nproc": os.cpu_count(),
        "memory_gb": round(int(meminfo.group(1)) / 1024 ** 2, 1) if meminfo else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        **tools,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def scratch(folder: Path, repo: Path) -> Path:
    """The run's scratch folder, resolved; never the repository or inside it (a run
    writes gigabytes, and deletes what it wrote)."""
    folder = folder.resolve()
    if folder == repo or repo in folder.parents:
        raise SystemExit("--workdir must be outside the repository")
    return folder


def version_of(*command: str) -> str:
    """What a tool prints for its version."""
    return subprocess.run(command, capture_output=True, text=True).stdout.strip()


def cpu_counters() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine so far, from /proc/stat.

    The machine is shared with other work on the same two cores, so each timed run
    records how much CPU everything else took meanwhile: a run that competed for the
    cores shows it, instead of hiding in a median."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq) / tick, steal / tick


def tree_bytes(path: Path) -> int:
    """Apparent size of a folder: the sum of its files' sizes."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass
    return total


def warm_page_cache(paths: list[Path]) -> None:
    """Read files once so every timed run finds them in the page cache (dropping the
    cache needs root): the first run must not pay for a cold disk."""
    for path in paths:
        if path.exists():
            with open(path, "rb") as handle:
                while handle.read(1 << 22):
                    pass


class TreeRss(threading.Thread):
    """Samples the summed RSS of a process and its descendants: import and capture fork
    scanning workers, which GNU time's largest-process figure does not add up. Forked
    workers share pages with their parent, so the sum over-counts; both are reported."""

    def __init__(self, pid: int, interval: float = 0.25):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_kb = pid, interval, 0
        self.stopped = threading.Event()
        self.page_kb = os.sysconf("SC_PAGE_SIZE") // 1024

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.peak_kb = max(self.peak_kb, self._sample())

    def _sample(self) -> int:
        parents: dict[int, int] = {}
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                text = Path(stat).read_text()
            except OSError:
                continue
            parents[int(stat.split("/")[2])] = int(text[text.rfind(")") + 2:].split()[1])
        tree, frontier = {self.pid}, [self.pid]
        while frontier:
            parent = frontier.pop()
            children = [pid for pid, ppid in parents.items() if ppid == parent]
            tree.update(children)
            frontier.extend(children)
        total = 0
        for pid in tree:
            try:
                total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * self.page_kb
            except (OSError, IndexError, ValueError):
                pass
        return total


def write_results(folder: Path, name: str, result: dict, text: str) -> None:
    """bench/results/NAME.json (every figure) and NAME.md (the report), then print it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (folder / f"{name}.md").write_text(text)
    print(text)


def write_section(folder: Path, name: str, title: str, json_name: str, result: dict,
                  section: str) -> None:
    """NAME.md shared by several scripts, each owning one "## ..." section: `section`
    (which starts with its own "## " heading) replaces that script's older one, the others
    are kept; every figure goes to JSON_NAME.json. Then print the section."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{json_name}.json").write_text(json.dumps(result, indent=2) + "\n")
    path = folder / f"{name}.md"
    text = path.read_text() if path.exists() else f"# {title}\n\n"
    heading = section.split("\n", 1)[0] + "\n"
    if heading in text:
        start = text.index(heading)
        following = text.find("\n## ", start + len(heading))
        text = text[:start] + section.rstrip("\n") + "\n" + (text[following:] if following >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    path.write_text(text)
    print(section)
