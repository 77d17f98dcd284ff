#!/usr/bin/env python3
"""Benchmark: the HL7 v2 listener, `releve capture hl7 --listen` (issue 19).

The questions:
  - Latency: one connection sending as an interface engine does (a message, then wait for
    its ACK, then the next): p50 and p95 of the time from the first byte sent to the ACK
    received, when the ACK promises a durable write (WAL, synchronous=FULL, one fsync per
    commit): target p95 <= 10 ms. Beside it, in the same run, python-hl7's own MLLP
    server (`hl7.mllp.start_hl7_server`, each message parsed with `readmessage` and
    answered with `Message.create_ack`), which writes nothing: MLLP served the way
    python-hl7 shows, without the promise.
  - Throughput: eight connections at once, each sending and waiting: messages per second
    acknowledged durably (target >= 2,000/s), and the listener's peak RSS, beside the
    same bare server.

Messages: realistic ADT (A01, A02, A03, A08 with PID-3's IPP and INS, PV1, ZBE) and ORU^R01
(OBR and 3 to 20 OBX of types NM, ST, CE) in the shapes French PAM feeds use, UTF-8 with
accents, about 60 % ADT, each with its own MSH-10, made from a fixed seed.

Every server is a process of its own (`bench/hl7.py listen|bare`), started fresh for each
timed run on an empty state; the senders are another process (`bench/hl7.py send`, one
thread and one blocking socket per connection). 200 warm-up messages go first, untimed.
The listener's CPU is its own and its workers'; "other CPU" is what the rest of the
machine used meanwhile (the senders included). `--repeat N` alternates which server goes
first. After each listener run the log is checked to hold every message exactly once.

The segment writer's interval (before and after it kept each result's output) is
measured by bench/hl7_segments.py, into the same files: its section is kept here.

Usage: .venv/bin/python bench/hl7.py [--messages N] [--connections C] [--repeat N]
       [--workers W ...] [--workdir DIR] [--results DIR]
Results: bench/results/hl7.md and bench/results/hl7.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

# This file's name is python-hl7's: its folder goes last on the path, so that `import hl7`
# finds the library (here, in the listener and in the bare server) and not this script.
sys.path.append(sys.path.pop(0))

from capture import code_stamp, log, machine, process_cpu, process_hwm_kb
from measure import TreeRss, cpu_counters, write_results

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "bench" / "results"
TITLE = "HL7 v2 listener: durable ACK latency and throughput"
TARGETS = {"p95_ms_at_most": 10.0, "messages_per_s_at_least": 2000}
SEED = 19
WARM_UP = 200
FS = b"\x1c"  # never inside a message: separates them in the messages file

# --- the messages --------------------------------------------------------------------------

FAMILY = ["MARTIN", "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS", "MOREAU",
          "LEFÈVRE", "GIRARD", "BONNET", "FRANÇOIS", "MERCIER", "LAMBERT", "FONTAINE", "ROUSSEAU"]
GIVEN = ["Jean", "Marie", "Hélène", "Zoé", "Loïc", "Gaëlle", "Jérôme", "Anaïs", "Benoît", "Cécile"]
WARDS = ["CARDIO", "PNEUMO", "NEPHRO", "GERIA", "CHIRVISC", "MEDINT", "REA"]
TESTS = [("2951-2", "Sodium", "mmol/L", "135-145", 140, 4), ("2823-3", "Potassium", "mmol/L", "3.5-5.0", 4.2, 0.5),
         ("2160-0", "Créatinine", "umol/L", "60-110", 85, 20), ("718-7", "Hémoglobine", "g/dL", "12-17", 13.5, 1.5),
         ("6690-2", "Leucocytes", "10*9/L", "4-10", 7, 2.5), ("777-3", "Plaquettes", "10*9/L", "150-400", 250, 60),
         ("1988-5", "CRP", "mg/L", "0-5", 4, 6), ("2345-7", "Glucose", "mmol/L", "3.9-5.8", 5.5, 1.2)]
AUTHORITY = "CHU-DEMO&1.2.250.1.999.1.1.1&ISO"
INS = "ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO"


def messages(count: int, prefix: str, seed: int = SEED) -> list[bytes]:
    """`count` messages, control ids `<prefix><n>`, from a fixed seed."""
    rng = random.Random(seed)
    made = []
    for number in range(count):
        stamp = f"202601{rng.randint(10, 14):02d}{rng.randint(0, 23):02d}{rng.randint(0, 59):02d}00"
        patient = rng.randint(100000, 999999)
        visit = patient * 10 + rng.randint(1, 9)
        family, given = rng.choice(FAMILY), rng.choice(GIVEN)
        sex = rng.choice("MF")
        birth = f"19{rng.randint(30, 99)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        ward = rng.choice(WARDS)
        pid = (f"PID|1||{patient}^^^{AUTHORITY}^PI~{rng.randint(1, 2)}{birth[2:6]}75{rng.randint(100, 999)}"
               f"{rng.randint(100, 999)}^^^{INS}^INS||{family}^{given}^^^^^L~{family}^{given}^^^^^D||{birth}|{sex}"
               f"|||{rng.randint(1, 99)} rue de la Paix^^Paris^^750{rng.randint(1, 20):02d}^FRA^H||"
               f"^PRN^PH^^^^^^^^^01{rng.randint(10000000, 99999999)}")
        pv1 = (f"PV1|1|I|{ward}^{rng.randint(100, 140)}^{rng.randint(1, 2)}^CHU-DEMO||||"
               f"{rng.randint(1000, 9999)}^{rng.choice(FAMILY)}^{rng.choice(GIVEN)}^^^DR|||MED||||||||"
               f"{visit}^^^{AUTHORITY}^VN|||||||||||||||||||||||||{stamp}")
        control = f"{prefix}{number}"
        if rng.random() < 0.6:
            event = rng.choice(["A01", "A02", "A03", "A08"])
            segments = [f"MSH|^~\\&|SIH|CHU-DEMO|RELEVE|CHU-DEMO|{stamp}||ADT^{event}^ADT_A01|{control}|P|2.5"
                        "||||||UNICODE UTF-8|||2.1^IHE_FR^1.3.6.1.4.12559.11.20.1.7.5^ISO",
                        f"EVN||{stamp}||||{stamp}", pid, pv1,
                        f"ZBE|{rng.randint(10000, 99999)}^CHU-DEMO|{stamp}||INSERT|N||"
                        f"^^^^^^UF^^^{ward}|HMS"]
        else:
            segments = [f"MSH|^~\\&|LABO|CHU-DEMO|RELEVE|CHU-DEMO|{stamp}||ORU^R01^ORU_R01|{control}|P|2.5"
                        "||||||UNICODE UTF-8", pid, pv1,
                        f"ORC|RE|{rng.randint(10**6, 10**7)}^SIH|{rng.randint(10**6, 10**7)}^LABO",
                        f"OBR|1|{rng.randint(10**6, 10**7)}^SIH|{rng.randint(10**6, 10**7)}^LABO|"
                        f"BIOCHIMIE^Bilan biologique^L|||{stamp}|||||||{stamp}|||||||||{stamp}||CH|F"]
            for index in range(1, rng.randint(3, 20) + 1):
                kind = rng.random()
                if kind < 0.8:
                    code, name, unit, normal, mean, spread = rng.choice(TESTS)
                    value = round(rng.gauss(mean, spread), 1)
                    low, high = (float(x) for x in normal.split("-"))
                    flag = "L" if value < low else "H" if value > high else "N"
                    segments.append(f"OBX|{index}|NM|{code}^{name}^LN||{value}|{unit}^^UCUM|{normal}|{flag}|||F|||{stamp}")
                elif kind < 0.9:
                    segments.append(f"OBX|{index}|ST|8251-1^Commentaire^LN||Prélèvement hémolysé, "
                                    f"à contrôler||||||F|||{stamp}")
                else:
                    segments.append(f"OBX|{index}|CE|882-1^Groupe sanguin^LN||A+^A positif^L||||||F|||{stamp}")
        made.append(("\r".join(segments) + "\r").encode())
    return made


# --- the servers and the senders (each a process of its own) -------------------------------------


def listen_main(argv: list[str]) -> None:
    """`listen STATE WORKERS PORT_FILE`: the listener, stopped by SIGTERM."""
    from releve import logs
    from releve.capture.hl7.listener import serve

    state, workers, port_file = Path(argv[0]), int(argv[1]), Path(argv[2])
    logs.configure()
    serve(("127.0.0.1", 0), state, workers=workers,
          ready=lambda port: port_file.write_text(str(port)))


def bare_main(argv: list[str]) -> None:
    """`bare PORT_FILE`: python-hl7's MLLP server, parse and ACK, nothing written."""
    import hl7.mllp

    port_file = Path(argv[0])

    async def answer(reader: Any, writer: Any) -> None:
        try:
            while True:
                message = await reader.readmessage()
                writer.writemessage(message.create_ack())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await hl7.mllp.start_hl7_server(answer, "127.0.0.1", 0, encoding="utf-8")
        port_file.write_text(str(server.sockets[0].getsockname()[1]))
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        server.close()

    asyncio.run(main())


def send_main(argv: list[str]) -> None:
    """`send PORT MESSAGES_FILE CONNECTIONS`: send every message, round robin over the
    connections, each waiting for its ACK; print the latencies (ms) and the wall time."""
    port, path, connections = int(argv[0]), Path(argv[1]), int(argv[2])
    batch = path.read_bytes().split(FS)
    shares = [batch[n::connections] for n in range(connections)]
    latencies: list[list[float]] = [[] for _ in shares]
    refused = [0] * connections
    start = threading.Barrier(connections + 1)

    def run(number: int) -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            start.wait()
            for raw in shares[number]:
                began = time.perf_counter()
                sock.sendall(b"\x0b" + raw + b"\x1c\r")
                answer = b""
                while not answer.endswith(b"\x1c\r"):
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise SystemExit("the server closed the connection")
                    answer += chunk
                latencies[number].append((time.perf_counter() - began) * 1000)
                refused[number] += b"MSA|AA|" not in answer

    threads = [threading.Thread(target=run, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    print(json.dumps({"wall_s": wall, "refused": sum(refused),
                      "latencies_ms": [x for share in latencies for x in share]}))


# --- one timed run -------------------------------------------------------------------------------


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its children (the listener's workers)."""
    total = process_cpu(pid)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if int(text[text.rfind(")") + 2:].split()[1]) == pid:
            total += process_cpu(int(stat.parent.name))
    return total


def start_server(kind: str, work: Path, workers: int) -> tuple[subprocess.Popen, int]:
    port_file = work / "port"
    port_file.unlink(missing_ok=True)
    command = [sys.executable, __file__, "bare", str(port_file)] if kind == "bare" else \
        [sys.executable, __file__, "listen", str(work / "state"), str(workers), str(port_file)]
    (work / f"{kind}.log").unlink(missing_ok=True)
    server = subprocess.Popen(command, stdout=open(work / f"{kind}.log", "ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not port_file.exists() or not port_file.read_text():
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the {kind} server did not start: see {work / f'{kind}.log'}")
        time.sleep(0.05)
    return server, int(port_file.read_text())


def send(port: int, path: Path, connections: int) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "send", str(port), str(path), str(connections)],
                          capture_output=True, check=True)
    return json.loads(done.stdout)


def timed(kind: str, work: Path, workers: int, connections: int, warm: Path, batch: Path,
          expected: int) -> dict[str, Any]:
    """One server, fresh, warmed, then the batch timed."""
    shutil.rmtree(work / "state", ignore_errors=True)
    server, port = start_server(kind, work, workers)
    rss = TreeRss(server.pid, interval=0.1)
    try:
        send(port, warm, connections)
        rss.start()
        cpu_before, (busy_before, _) = tree_cpu(server.pid), cpu_counters()
        sent = send(port, batch, connections)
        server_cpu, (busy_after, _) = tree_cpu(server.pid) - cpu_before, cpu_counters()
        hwm_kb = process_hwm_kb(server.pid)
    finally:
        rss.stopped.set()
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    latencies = sorted(sent["latencies_ms"])
    result = {"server": kind, "workers": workers,
              "connections": connections, "messages": len(latencies), "refused": sent["refused"],
              "wall_s": round(sent["wall_s"], 3), "per_s": round(len(latencies) / sent["wall_s"], 1),
              "p50_ms": round(statistics.median(latencies), 3), "p95_ms": round(percentile(latencies, 95), 3),
              "p99_ms": round(percentile(latencies, 99), 3), "max_ms": round(latencies[-1], 3),
              "server_cpu_s": round(server_cpu, 2),
              "other_cpu_s": round(max(0.0, busy_after - busy_before - server_cpu), 2),
              "peak_rss_mb": round(hwm_kb / 1024, 1), "peak_tree_rss_mb": round(rss.peak_kb / 1024, 1)}
    if kind == "listener":
        result["log"] = check_log(work / "state", expected)
        said = re.findall(r"(\d+) entries in (\d+) commits", (work / "listener.log").read_text())
        entries, commits = map(int, said[-1])
        result["per_commit"] = round(entries / commits, 2)
    return result


def reading_cost(made: list[bytes]) -> dict[str, float]:
    """CPU milliseconds per message of `message.read` alone, and of python-hl7's whole
    parse (the text decoded, then `hl7.parse`: what the bare server does), over the batch
    in this process."""
    import hl7

    from releve.capture.hl7 import message

    message.read(made[0])
    rss_before = process_rss_kb()
    began = time.process_time()
    for raw in made:
        message.read(raw)
    read = time.process_time() - began
    grown_mb = (process_rss_kb() - rss_before) / 1024
    began = time.process_time()
    for raw in made:
        hl7.parse(raw.decode())
    parse = time.process_time() - began
    return {"read_ms": round(read * 1000 / len(made), 3), "parse_ms": round(parse * 1000 / len(made), 3),
            "read_grown_mb": round(grown_mb, 1)}


def process_rss_kb() -> int:
    return int(re.search(r"^VmRSS:\s*(\d+) kB", Path("/proc/self/status").read_text(), re.M).group(1))


def percentile(ordered: list[float], rank: float) -> float:
    return ordered[min(len(ordered) - 1, int(round(rank / 100 * (len(ordered) - 1))))]


def check_log(state: Path, expected: int) -> dict[str, Any]:
    """Every message once, none quarantined: the ACKs were not empty promises."""
    from releve.capture.hl7.log import LogReader

    reader = LogReader(state)
    try:
        stored = reader.last_seq()
        feeds = reader.feeds()
        quarantined = len(reader.quarantined(10**6))
    finally:
        reader.close()
    if stored != expected or quarantined:
        raise SystemExit(f"the log holds {stored} messages ({quarantined} quarantined), {expected} expected")
    return {"stored": stored, "quarantined": quarantined, "duplicates": sum(f.duplicates for f in feeds),
            "bytes": sum(p.stat().st_size for p in (state / "hl7").iterdir())}


# --- the report --------------------------------------------------------------------------------


def configurations(workers: list[int]) -> list[tuple[str, int]]:
    return [("listener", count) for count in workers] + [("bare", 0)]


def label(kind: str, workers: int) -> str:
    if kind == "bare":
        return "python-hl7 `start_hl7_server`, parse + `create_ack`, no write"
    if workers == 0:
        return "listener, no worker process (`workers=0`)"
    return "listener, durable ACK" if workers == 2 else f"listener, {workers} worker processes"


def section(runs: list[list[dict[str, Any]]], workers: list[int]) -> list[dict[str, Any]]:
    """The median of every figure over the repeats, per configuration (RSS: the largest)."""
    rows = []
    for kind, count in configurations(workers):
        mine = [r for repeat in runs for r in repeat if r["server"] == kind and r["workers"] == count]
        row = {key: statistics.median(r[key] for r in mine) for key in
               ("per_s", "p50_ms", "p95_ms", "p99_ms", "max_ms", "wall_s", "server_cpu_s", "other_cpu_s")}
        if kind == "listener":
            row["per_commit"] = statistics.median(r["per_commit"] for r in mine)
        row.update(server=kind, workers=count, label=label(kind, count), messages=mine[0]["messages"],
                   refused=max(r["refused"] for r in mine),
                   peak_rss_mb=max(r["peak_rss_mb"] for r in mine),
                   peak_tree_rss_mb=max(r["peak_tree_rss_mb"] for r in mine))
        rows.append(row)
    return rows


def table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| server | msg/s | p50 ms | p95 ms | p99 ms | max ms | server CPU s (ms/msg) | other CPU s "
             "| peak RSS (tree) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['label']} | {r['per_s']:,.0f} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | "
                     f"{r['p99_ms']:.2f} | {r['max_ms']:.1f} | {r['server_cpu_s']:.1f} "
                     f"({cpu_per_message(r):.2f}) | {r['other_cpu_s']:.1f} | "
                     f"{r['peak_rss_mb']:.0f} MiB ({r['peak_tree_rss_mb']:.0f} MiB) |")
    return lines


def repeats(runs: list[list[dict[str, Any]]]) -> list[str]:
    """Each repeat's figures, in the order run: the machine is shared, and a median
    hides how much the others' load moved them."""
    lines = ["Per repeat (msg/s, p95 ms, and in brackets server CPU s / other CPU s), in the order run:", ""]
    for number, repeat in enumerate(runs, 1):
        said = "; ".join(f"{'listener' if r['server'] == 'listener' else 'bare'} {r['per_s']:,.0f} msg/s, "
                         f"p95 {r['p95_ms']:.2f} [{r['server_cpu_s']:.1f} / {r['other_cpu_s']:.1f}]"
                         for r in repeat)
        lines.append(f"- repeat {number}: {said}")
    return lines


def cpu_per_message(row: dict[str, Any]) -> float:
    return row["server_cpu_s"] * 1000 / row["messages"]


def markdown(result: dict[str, Any]) -> str:
    m, code, a, cost = result["machine"], result["code"], result["arguments"], result["reading"]
    latency, throughput = result["latency"], result["throughput"]
    main = next(r for r in latency if r["server"] == "listener" and r["workers"] == a["workers"][0])
    bare_l = next(r for r in latency if r["server"] == "bare")
    busy = next(r for r in throughput if r["server"] == "listener" and r["workers"] == a["workers"][0])
    bare_t = next(r for r in throughput if r["server"] == "bare")

    def met(ok: bool) -> str:
        return "met" if ok else "**missed**"

    lines = [
        f"# {TITLE}", "",
        f"Generated by `bench/hl7.py {' '.join(result['argv'])}` on {m['date']}; {a['repeat']} repeat(s), "
        "median shown (peak RSS: the largest).", "",
        f"- Relève: commit {code['head'][:12]}{' with uncommitted changes in src/' if code['src_dirty'] else ''}"
        f" (src sha256 {code['src_sha256'][:12]}).",
        f"- Machine: {m['cpu']}, {m['nproc']} cores, {m['memory_gb']} GB RAM, Linux {m['kernel']}, "
        f"Python {m['python']}, python-hl7 {result['hl7_version']}, SQLite {result['sqlite']}; shared: "
        "\"other CPU\" is what the rest of the machine used during a timed run (the senders' process "
        "included). Server and senders share the 2 cores, over loopback.",
        f"- Messages: {a['messages']:,} per timed run ({result['mix']}), "
        f"{result['bytes_per_message']:,.0f} bytes on average, each with its own MSH-10; "
        f"{WARM_UP} warm-up messages first, untimed. Every server process is fresh, the log empty.",
        "- Latency: from the frame's first byte sent to the whole ACK received, one message in "
        "flight per connection (send and wait, as an interface engine does).",
        "- Listener: `serve()` in a process of its own (`releve capture hl7` runs the same), the "
        "default limit; durable means the message log's commit (WAL, synchronous=FULL) returned "
        "before the ACK was written. After each run the log held every message once, none in "
        "quarantine.",
        "",
        "## One connection, send and wait", "",
        *table(latency), "",
        *repeats(result["runs"]["latency"]), "",
        f"- **p95 {main['p95_ms']:.2f} ms** with the durable write (target at most "
        f"{TARGETS['p95_ms_at_most']:.0f} ms): {met(main['p95_ms'] <= TARGETS['p95_ms_at_most'])}; "
        f"p50 {main['p50_ms']:.2f} ms. Beside python-hl7's bare server: p95 "
        f"{main['p95_ms'] / bare_l['p95_ms']:.2f}x, p50 {main['p50_ms'] / bare_l['p50_ms']:.2f}x, "
        f"throughput {main['per_s'] / bare_l['per_s']:.2f}x.",
        "",
        f"## {a['connections']} connections at once", "",
        *table(throughput), "",
        *repeats(result["runs"]["throughput"]), "",
        f"- **{busy['per_s']:,.0f} messages/s** acknowledged durably (target at least "
        f"{TARGETS['messages_per_s_at_least']:,}): "
        f"{met(busy['per_s'] >= TARGETS['messages_per_s_at_least'])}; "
        f"{busy['per_s'] / bare_t['per_s']:.2f}x python-hl7's bare server. "
        f"Peak RSS of the listener: {busy['peak_rss_mb']:.0f} MiB (its process), "
        f"{busy['peak_tree_rss_mb']:.0f} MiB with its workers (summed, shared pages counted in each); "
        f"reading the batch's messages grew the bench's own process by {cost['read_grown_mb']:.0f} MiB "
        "(`message.read`'s caches of parsed fields, bounded).",
        f"- Where the time goes: the listener spends {cpu_per_message(busy):.2f} CPU ms a message "
        f"(python-hl7's bare server {cpu_per_message(bare_t):.2f}); `message.read` alone takes "
        f"{cost['read_ms']:.3f} ms of it, python-hl7's whole parse {cost['parse_ms']:.3f} ms "
        f"(measured over the same messages in the bench's process). "
        f"Group commit: {busy['per_commit']:.1f} messages per commit on average with "
        f"{a['connections']} connections ({main['per_commit']:.1f} with one; warm-up included).",
        "",
    ]
    return "\n".join(lines).rstrip("\n") + "\n"


def with_segment_writer(folder: Path, result: dict[str, Any], text: str) -> tuple[dict[str, Any], str]:
    """bench/hl7_segments.py's figures and section (the last of the report), measured
    apart, kept when this run writes the files again."""
    figures, report = folder / "hl7.json", folder / "hl7.md"
    if figures.exists() and "segment_writer" in (old := json.loads(figures.read_text())):
        result["segment_writer"] = old["segment_writer"]
    if report.exists() and (at := (kept := report.read_text()).find("\n## Segment writer")) >= 0:
        text = text.rstrip("\n") + "\n" + kept[at:]
    return result, text


# --- main --------------------------------------------------------------------------------


def main() -> None:
    internal = {"listen": listen_main, "bare": bare_main, "send": send_main}
    if sys.argv[1:2] and sys.argv[1] in internal:
        internal[sys.argv[1]](sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000, help="messages per timed run")
    parser.add_argument("--connections", type=int, default=8, help="connections of the throughput section")
    parser.add_argument("--workers", type=int, nargs="+", default=[2],
                        help="listener configurations (its reading processes); the first is the one judged")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/releve-bench-hl7"))
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    import hl7

    # every process this starts, and this one, runs this tree's code, installed or not
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH")]))
    sys.path.insert(0, str(REPO_ROOT / "src"))
    work = args.workdir.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    warm, batch = work / "warm.bin", work / "batch.bin"
    warm.write_bytes(FS.join(messages(WARM_UP, "W", seed=SEED + 1)))
    made = messages(args.messages, "M")
    batch.write_bytes(FS.join(made))
    kinds: dict[str, int] = {}
    for raw in made:
        kind = raw.split(b"|", 9)[8].rsplit(b"^", 1)[0].decode()
        kinds[kind] = kinds.get(kind, 0) + 1
    sections: dict[str, list[list[dict[str, Any]]]] = {"latency": [], "throughput": []}
    for repeat in range(args.repeat):
        for name, connections in (("latency", 1), ("throughput", args.connections)):
            order = configurations(args.workers)
            if repeat % 2:
                order.reverse()
            runs = []
            for kind, workers in order:
                log(f"repeat {repeat + 1}: {name}, {label(kind, workers)}")
                runs.append(timed(kind, work, workers, connections, warm, batch, args.messages + WARM_UP))
                last = runs[-1]
                log(f"  {last['per_s']:,.0f} msg/s, p50 {last['p50_ms']:.2f} ms, p95 {last['p95_ms']:.2f} ms")
            sections[name].append(runs)
    result = {"machine": machine(), "code": code_stamp(), "argv": sys.argv[1:], "hl7_version": hl7.__version__,
              "sqlite": sqlite3.sqlite_version, "targets": TARGETS,
              "arguments": {"messages": args.messages, "connections": args.connections,
                            "workers": args.workers, "repeat": args.repeat},
              "mix": ", ".join(f"{n:,} {k}" for k, n in sorted(kinds.items())),
              "bytes_per_message": sum(map(len, made)) / len(made), "reading": reading_cost(made),
              "latency": section(sections["latency"], args.workers),
              "throughput": section(sections["throughput"], args.workers),
              "runs": sections}
    write_results(args.results, "hl7", *with_segment_writer(args.results, result, markdown(result)))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
