"""The MLLP listener (capture/hl7/listener.py) and its message log (capture/hl7/log.py),
over real sockets on loopback, as interface engines use them: an ACK only for what the
log holds, duplicates stored once, bad messages answered and quarantined while the other
feeds flow, framing and size limits that close one connection only, TLS, a clean stop."""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import random
import signal
import socket
import sqlite3
import ssl
import stat
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from releve.capture.hl7.listener import ListenError, serve
from releve.capture.hl7.log import Arrival, LogError, LogReader, LogWriter, Refusal, log_path

from helpers import LOOPBACK, ServerProcess, alive, descendants, make_ca_and_server_cert, start_server, wait_until

FRAME_END = b"\x1c\r"
OID = "1.2.250.1.999.1.1.1"  # the hospital's assigning authority (a made-up OID)
SENDER = "SIH|CHU-DEMO"


def adt(control: str, patient: str = "123456", event: str = "A01", sender: str = "SIH",
        terminator: str = "\r", padding: int = 0) -> bytes:
    """An ADT message shaped as French PAM feeds send them (PID-3 with the IPP and the
    INS, PV1, ZBE), UTF-8."""
    segments = [
        f"MSH|^~\\&|{sender}|CHU-DEMO|RELEVE|CHU-DEMO|20260114093000||ADT^{event}^ADT_A01|{control}|P|2.5"
        "||||||UNICODE UTF-8|||2.1^IHE_FR^1.3.6.1.4.12559.11.20.1.7.5^ISO",
        "EVN||20260114093000||||20260114092500",
        f"PID|1||{patient}^^^CHU-DEMO&{OID}&ISO^PI~1600175123456^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS"
        "||LEFÈVRE^Hélène^^^^^L||19600101|F|||12 rue de la Paix^^Paris^^75002^FRA^H",
        f"PV1|1|I|CARDIO^101^1^CHU-DEMO||||||||||||||||{patient}1^^^CHU-DEMO&{OID}&ISO^VN"
        "|||||||||||||||||||||||||20260114092500",
        "ZBE|MVT1^CHU-DEMO|20260114092500||INSERT|N",
    ]
    raw = (terminator.join(segments) + terminator).encode()
    if padding:
        filler = f"NTE|1||{'x' * max(0, padding - len(raw) - 8)}{terminator}".encode()
        raw += filler
        assert len(raw) == padding, len(raw)
    return raw


def slow(control: str) -> bytes:
    """An ADT followed by 8 million one-letter segments: 15 MiB, within the limit, that
    `message.read` takes about a second to get through."""
    return adt(control) + b"Z\r" * 8_000_000


def oru(control: str, patient: str = "123456", observations: int = 3) -> bytes:
    segments = [
        f"MSH|^~\\&|LABO|CHU-DEMO|RELEVE|CHU-DEMO|20260114093000||ORU^R01^ORU_R01|{control}|P|2.5||||||UNICODE UTF-8",
        f"PID|1||{patient}^^^CHU-DEMO&{OID}&ISO^PI||LEFÈVRE^Hélène^^^^^L||19600101|F",
        "OBR|1|123^SIH|456^LABO|BIO^Bilan^L|||20260114080000|||||||20260114080000||||||||20260114090000||CH|F",
        *(f"OBX|{n}|NM|2951-2^Sodium^LN||{130 + n % 20}|mmol/L^^UCUM|135-145|N|||F|||20260114090000"
          for n in range(1, observations + 1)),
    ]
    return ("\r".join(segments) + "\r").encode()


@contextlib.contextmanager
def listening(state: Path, **options) -> Iterator[int]:
    """`serve` in a thread on a free loopback port, stopped (and checked stopped) after."""
    ports: list[int] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def run() -> None:
        try:
            serve((LOOPBACK, 0), state, ready=ports.append, stop=stop, **options)
        except BaseException as error:
            failures.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    wait_until("the listener to listen", lambda: ports or failures, 20, step=0.01)
    try:
        assert not failures, failures
        yield ports[0]
    finally:
        stop.set()
        thread.join(20)
    assert not thread.is_alive(), "the listener did not stop"
    assert not failures, failures


class Engine:
    """One sender's connection: a frame out, then its ACK back (or the connection's end)."""

    def __init__(self, port: int, context: ssl.SSLContext | None = None):
        sock = socket.create_connection((LOOPBACK, port), timeout=30)
        self.sock = context.wrap_socket(sock, server_hostname=LOOPBACK) if context else sock

    def send(self, raw: bytes) -> bytes:
        self.sock.sendall(b"\x0b" + raw + FRAME_END)
        return self.answer()

    def answer(self) -> bytes:
        data = b""
        while not data.endswith(FRAME_END):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            data += chunk
        assert data.startswith(b"\x0b")
        return data[1:-2]

    def closed(self) -> bool:
        """Whether the listener closed the connection (nothing more comes)."""
        try:
            while chunk := self.sock.recv(65536):
                assert not chunk.endswith(FRAME_END), "an answer came instead of the end"
        except ConnectionResetError:
            pass
        return True

    def close(self) -> None:
        self.sock.close()


def fields(ack: bytes) -> dict[str, list[str]]:
    """An ACK's segments by name, split on its field separator."""
    text = ack.decode()
    separator = text[3]
    return {segment[:3]: segment.split(separator) for segment in text.replace("\n", "\r").split("\r") if segment}


def code_of(ack: bytes) -> tuple[str, str]:
    """(MSA-1, MSA-2): the acknowledgement code and the control id it answers."""
    msa = fields(ack)["MSA"]
    return msa[1], msa[2]


# --- the ACK is a promise ------------------------------------------------------------------


def test_each_aa_comes_after_the_commit_a_reader_sees(tmp_path):
    reader = LogReader(tmp_path)
    assert reader.after(0, 10) == [] and reader.feeds() == []  # no log yet: nothing, no error
    with listening(tmp_path) as port:
        engine = Engine(port)
        sent = []
        for number in range(30):
            raw = adt(f"A{number}", event="A01") if number % 2 else oru(f"A{number}")
            assert code_of(engine.send(raw)) == ("AA", f"A{number}")
            # the moment the ACK is in, a reader opened elsewhere sees the row
            [row] = reader.after(len(sent), 10)
            sent.append(raw)
            assert (row.seq, row.raw, row.control_id) == (number + 1, raw, f"A{number}")
            assert row.sender == (SENDER if number % 2 else "LABO|CHU-DEMO")
            assert row.kind == ("ADT^A01" if number % 2 else "ORU^R01")
            assert row.patient == f"{OID}|123456"
        engine.close()
    assert [s.raw for s in LogReader(tmp_path).after(0, 100)] == sent
    folder, log = log_path(tmp_path).parent, log_path(tmp_path)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and stat.S_IMODE(log.stat().st_mode) == 0o600


def test_a_message_sent_again_is_acknowledged_and_stored_once(tmp_path):
    with listening(tmp_path) as port:
        first, second = Engine(port), Engine(port)
        raw = adt("DUP1")
        assert code_of(first.send(raw)) == ("AA", "DUP1")
        assert code_of(first.send(raw)) == ("AA", "DUP1")  # the ACK was lost: sent again
        assert code_of(second.send(raw)) == ("AA", "DUP1")  # after a reconnection
        # the same control id from another sender is another message
        assert code_of(second.send(adt("DUP1", sender="URGENCES"))) == ("AA", "DUP1")
    reader = LogReader(tmp_path)
    rows = reader.after(0, 10)
    assert [(r.sender, r.control_id) for r in rows] == [(SENDER, "DUP1"), ("URGENCES|CHU-DEMO", "DUP1")]
    feeds = {f.sender: f for f in reader.feeds()}
    assert (feeds[SENDER].count, feeds[SENDER].duplicates, feeds[SENDER].rejected) == (1, 2, 0)
    assert feeds[SENDER].last_kind == "ADT^A01" and feeds[SENDER].per_minute == 1


def test_bad_messages_are_answered_with_why_and_quarantined_while_other_feeds_flow(tmp_path):
    unknown = adt("BAD1", event="A99", sender="BAD")
    garbage = "Bonjour, ceci n'est pas un message HL7 ¤".encode()
    incomplete = oru("BAD3").split(b"PID|")[0]  # an ORU^R01 without its PID, OBR, OBX
    with listening(tmp_path) as port:
        bad, good = Engine(port), Engine(port)
        answers = []
        for number, raw in enumerate([unknown, garbage, incomplete]):
            answers.append(bad.send(raw))
            assert code_of(good.send(adt(f"OK{number}"))) == ("AA", f"OK{number}")
        assert code_of(bad.send(adt("BAD4", sender="BAD"))) == ("AA", "BAD4")  # still open
    for ack in answers:
        segments = fields(ack)
        assert segments["MSA"][1] in ("AE", "AR") and "ERR" in segments
    assert code_of(answers[0])[1] == "BAD1"
    reader = LogReader(tmp_path)
    assert [r.control_id for r in reader.after(0, 10)] == ["OK0", "OK1", "OK2", "BAD4"]
    quarantined = reader.quarantined()
    assert [q.control_id for q in quarantined] == ["BAD3", None, "BAD1"]  # newest first
    assert [q.code for q in quarantined] == [code_of(a)[0] for a in reversed(answers)]
    assert all(q.reason and q.peer.startswith(LOOPBACK) for q in quarantined)
    assert [q.kind for q in quarantined][2] == "ADT^A99"
    # the garbage had no MSH: it is counted against the sender its connection named before
    assert [q.sender for q in quarantined] == ["LABO|CHU-DEMO", "BAD|CHU-DEMO", "BAD|CHU-DEMO"]
    with sqlite3.connect(log_path(tmp_path)) as db:  # the bytes are kept as sent
        kept = [raw for (raw,) in db.execute("SELECT raw FROM quarantine ORDER BY id")]
    assert kept == [unknown, garbage, incomplete]
    feeds = {f.sender: f for f in reader.feeds()}
    assert (feeds["BAD|CHU-DEMO"].rejected, feeds["BAD|CHU-DEMO"].count) == (2, 1)
    assert (feeds[SENDER].rejected, feeds[SENDER].count) == (0, 3)


def test_a_log_that_cannot_be_written_gets_no_ack_and_the_message_sent_again_is_kept(tmp_path):
    with listening(tmp_path) as port:
        engine = Engine(port)
        assert code_of(engine.send(adt("W1"))) == ("AA", "W1")
        other = sqlite3.connect(log_path(tmp_path), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the log: after 5 s, "locked"
        engine.sock.sendall(b"\x0b" + adt("W2") + FRAME_END)
        assert engine.closed()  # no ACK: the engine will send it again
        other.execute("ROLLBACK")
        other.close()
        engine = Engine(port)
        assert code_of(engine.send(adt("W2"))) == ("AA", "W2")
    assert [r.control_id for r in LogReader(tmp_path).after(0, 10)] == ["W1", "W2"]


def test_segments_ended_by_cr_lf_or_crlf_are_all_accepted_and_kept_as_sent(tmp_path):
    with listening(tmp_path) as port:
        engine = Engine(port)
        sent = [adt(f"T{n}", terminator=end) for n, end in enumerate(["\r", "\n", "\r\n"])]
        for number, raw in enumerate(sent):
            assert code_of(engine.send(raw)) == ("AA", f"T{number}")
    rows = LogReader(tmp_path).after(0, 10)
    assert [r.raw for r in rows] == sent
    assert {(r.kind, r.patient, r.event_time) for r in rows} == {(rows[0].kind, rows[0].patient, rows[0].event_time)}
    assert rows[0].event_time is not None and rows[0].event_time.startswith("2026-01-14T09:25")


# --- what a connection may do to the others ------------------------------------------------------


def test_a_frame_over_the_limit_or_outside_mllp_closes_its_connection_only(tmp_path):
    with listening(tmp_path, limit=4096) as port:
        good, big, loose = Engine(port), Engine(port), Engine(port)
        assert code_of(good.send(adt("G1"))) == ("AA", "G1")
        assert code_of(big.send(adt("EXACT", padding=4096))) == ("AA", "EXACT")  # the limit itself
        big.sock.sendall(b"\x0b" + adt("HUGE", padding=5000) + FRAME_END)
        assert big.closed()
        loose.sock.sendall(adt("LOOSE") + FRAME_END)  # no <VT>: not an MLLP frame
        assert loose.closed()
        assert code_of(good.send(adt("G2"))) == ("AA", "G2")
    assert [r.control_id for r in LogReader(tmp_path).after(0, 10)] == ["G1", "EXACT", "G2"]
    assert LogReader(tmp_path).quarantined() == []


def test_a_stalled_sender_and_a_large_message_do_not_hold_up_the_others(tmp_path):
    """A large message is read in a worker process: the loop keeps answering the other
    feeds meanwhile (read in the loop, the first small message would wait for it)."""
    large = slow("LARGE")
    with listening(tmp_path) as port:
        stalled, heavy, quick = Engine(port), Engine(port), Engine(port)
        stalled.sock.sendall(b"\x0b" + adt("STALL")[:100])  # and never the rest
        heavy.sock.sendall(b"\x0b" + large + FRAME_END)
        time.sleep(0.05)  # the large message is in
        waits = []
        for number in range(5):
            began = time.monotonic()
            assert code_of(quick.send(adt(f"Q{number}"))) == ("AA", f"Q{number}")
            waits.append(time.monotonic() - began)
        quick_done = time.monotonic()
        assert code_of(heavy.answer()) == ("AA", "LARGE")
        large_done = time.monotonic()
    assert max(waits) < 0.2, waits
    assert large_done > quick_done  # the large one was still being read meanwhile
    rows = LogReader(tmp_path).after(0, 10)
    assert [r.control_id for r in rows] == ["Q0", "Q1", "Q2", "Q3", "Q4", "LARGE"]


def test_a_worker_killed_inside_a_message_answers_ae_and_the_feeds_go_on(tmp_path):
    large = slow("KILLED")
    with listening(tmp_path, workers=1) as port:
        [worker] = [p for p in multiprocessing.active_children() if p.name == "hl7-reader"]
        heavy, other = Engine(port), Engine(port)
        heavy.sock.sendall(b"\x0b" + large + FRAME_END)
        time.sleep(0.3)  # the worker is reading it
        os.kill(worker.pid, signal.SIGKILL)
        answer = fields(heavy.answer())
        assert answer["MSA"][1] == "AE" and "ERR" in answer
        assert code_of(other.send(adt("AFTER"))) == ("AA", "AFTER")  # read in the loop now
        assert code_of(heavy.send(adt("AFTER2"))) == ("AA", "AFTER2")
    reader = LogReader(tmp_path)
    assert [r.control_id for r in reader.after(0, 10)] == ["AFTER", "AFTER2"]
    [kept] = reader.quarantined()
    assert (kept.code, kept.reason, kept.sender) == ("AE", "the message could not be read", None)
    with sqlite3.connect(log_path(tmp_path)) as db:
        assert db.execute("SELECT raw FROM quarantine").fetchone()[0] == large


def test_eight_connections_at_once_each_in_order_every_message_once(tmp_path):
    senders, each = 8, 40
    answers: dict[int, list[tuple[str, str]]] = {}

    def feed(port: int, number: int) -> None:
        engine = Engine(port)
        answers[number] = [code_of(engine.send(adt(f"C{number}-{n}", patient=str(100 + number))))
                           for n in range(each)]
        engine.close()

    with listening(tmp_path, aside=0) as port:  # every message through the workers too
        threads = [threading.Thread(target=feed, args=(port, n)) for n in range(senders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert all(answers[n] == [("AA", f"C{n}-{i}") for i in range(each)] for n in range(senders))
    rows = LogReader(tmp_path).after(0, 1000)
    assert [r.seq for r in rows] == list(range(1, senders * each + 1))
    for number in range(senders):
        mine = [r.control_id for r in rows if r.patient == f"{OID}|{100 + number}"]
        assert mine == [f"C{number}-{i}" for i in range(each)]  # a feed's order is kept


def test_tls_with_the_hospitals_certificate(tmp_path):
    ca, cert, key = make_ca_and_server_cert(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    with listening(tmp_path / "state", ssl=server) as port:
        engine = Engine(port, ssl.create_default_context(cafile=str(ca)))
        assert code_of(engine.send(adt("TLS1"))) == ("AA", "TLS1")
        engine.close()
        plain = Engine(port)  # a sender that does not speak TLS gets no ACK
        plain.sock.sendall(b"\x0b" + adt("PLAIN") + FRAME_END)
        assert plain.closed()
    assert [r.control_id for r in LogReader(tmp_path / "state").after(0, 10)] == ["TLS1"]


def test_a_stop_lets_the_message_under_way_be_logged_and_acknowledged(tmp_path):
    ports: list[int] = []
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=((LOOPBACK, 0), tmp_path),
                              kwargs={"ready": ports.append, "stop": stop}, daemon=True)
    thread.start()
    wait_until("the listener to listen", lambda: ports, 20, step=0.01)
    heavy, idle = Engine(ports[0]), Engine(ports[0])
    heavy.sock.sendall(b"\x0b" + slow("LAST") + FRAME_END)
    time.sleep(0.3)
    stop.set()
    assert idle.closed()  # at once: it had nothing under way
    with pytest.raises(OSError):  # no new connection
        socket.create_connection((LOOPBACK, ports[0]), timeout=2)
    assert code_of(heavy.answer()) == ("AA", "LAST")
    assert heavy.closed()
    thread.join(20)
    assert not thread.is_alive()
    assert [r.control_id for r in LogReader(tmp_path).after(0, 10)] == ["LAST"]


LISTENER = ("import sys; from pathlib import Path; from releve.capture.hl7.listener import serve; "
            "serve(('127.0.0.1', 0), Path(sys.argv[1]), ready=lambda p: Path(sys.argv[2]).write_text(str(p)))")


def listener_process(state: Path) -> tuple[ServerProcess, int]:
    """`serve` in a process of its own, as `releve capture hl7` runs it, and its port."""
    port_file = state.parent / f"{state.name}.port"
    port_file.unlink(missing_ok=True)
    return start_server([sys.executable, "-c", LISTENER, state, port_file],
                        lambda: port_file.exists() and int(port_file.read_text() or 0),
                        what="the listener", seconds=30)


def test_sigterm_stops_the_listener_with_its_log_whole(tmp_path):
    server, port = listener_process(tmp_path / "state")
    try:
        engine, idle = Engine(port), Engine(port)
        assert code_of(engine.send(adt("S1"))) == ("AA", "S1")
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(20) == 0, server.output()
        assert idle.closed()
    finally:
        server.stop()
    assert [r.control_id for r in LogReader(tmp_path / "state").after(0, 10)] == ["S1"]
    with pytest.raises(OSError):
        socket.create_connection((LOOPBACK, port), timeout=2)


@pytest.mark.slow
def test_kill_9_in_the_middle_of_four_feeds_never_loses_an_acknowledged_message(tmp_path):
    """50 times: four feeds send as fast as they are answered, the listener is killed at
    a random moment, then started again, and each feed first sends again the message it
    had no answer for. Every message answered AA is in the log, once."""
    state, chance = tmp_path / "state", random.Random(19)
    acknowledged: set[tuple[str, str]] = set()
    unanswered: dict[int, bytes] = {}
    numbers = itertools.count()

    def feed(port: int, number: int, stop: threading.Event) -> None:
        engine = Engine(port)
        sender = f"FEED{number}"
        while not stop.is_set():
            raw = unanswered.get(number) or adt(f"K{next(numbers)}", patient=str(number), sender=sender)
            unanswered[number] = raw
            try:
                answer = engine.send(raw)
            except (OSError, EOFError):
                return
            if code_of(answer)[0] == "AA":
                acknowledged.add((f"{sender}|CHU-DEMO", code_of(answer)[1]))
            del unanswered[number]

    for _ in range(50):
        server, port = listener_process(state)
        stop = threading.Event()
        feeds = [threading.Thread(target=feed, args=(port, n, stop)) for n in range(4)]
        for thread in feeds:
            thread.start()
        workers = descendants(server.process.pid)
        time.sleep(chance.uniform(0.02, 0.3))
        server.kill()
        stop.set()
        for thread in feeds:
            thread.join(30)
        wait_until("the workers to end with the listener", lambda w=workers: not any(map(alive, w)), 10, 0.05)
    stored = [(r.sender, r.control_id) for r in LogReader(state).after(0, 10**6)]
    assert len(acknowledged) > 200 and workers  # the feeds did send meanwhile, to a listener with workers
    assert acknowledged <= set(stored) and len(stored) == len(set(stored))
    with sqlite3.connect(log_path(state)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_an_address_already_in_use_is_said_plainly(tmp_path):
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ListenError, match=f"cannot listen on {LOOPBACK}:{port}: Address already in use"):
            serve((LOOPBACK, port), tmp_path)


# --- the log, as its readers see it -----------------------------------------------------------------


def test_the_log_reader_answers_the_segment_writer_and_the_status(tmp_path):
    log_path(tmp_path).parent.mkdir()
    log_path(tmp_path).touch()  # the listener starting: the file is there, its tables not yet
    early = LogReader(tmp_path)
    assert (early.after(0, 10), early.feeds(), early.last_seq()) == ([], [], 0)
    writer = LogWriter(tmp_path)
    assert early.last_seq() == 0  # the same reader, once the tables are made

    def arrival(control: str, patient: str, merged: str | None = None, received: str = "2026-01-14T08:59:30.000000Z",
                sender: str = SENDER) -> Arrival:
        return Arrival(received, sender, control, "ADT^A40" if merged else "ADT^A01", None, patient, merged,
                       control.encode())

    assert writer.write([arrival("1", "a|1"), arrival("2", "a|2", received="2026-01-14T07:00:00.000000Z"),
                         arrival("1", "a|1")]) == ["stored", "stored", "duplicate"]
    assert writer.write([arrival("3", "a|1", merged="a|2"), arrival("4", "a|3"),
                         Refusal("2026-01-14T09:00:00.000000Z", None, None, None, "AR", "not HL7", "p:1", b"?"),
                         Refusal("2026-01-14T09:00:01.000000Z", SENDER, "5", "ADT^Z99", "AR", "unknown", "p:1",
                                 b"MSH")]) == ["stored", "stored", "quarantined", "quarantined"]
    reader = LogReader(tmp_path)
    assert early.last_seq() == 4
    early.close()
    assert [s.seq for s in reader.after(1, 2)] == [2, 3]
    assert [s.control_id for s in reader.about({"a|2"})] == ["2", "3"]  # its own and the merge naming it
    assert [s.control_id for s in reader.about({"a|1", "a|3"})] == ["1", "3", "4"]
    assert reader.merges() == [("a|2", "a|1")]
    assert reader.last_seq() == 4
    unknown, feed = reader.feeds()
    assert (unknown.sender, unknown.rejected, unknown.count) == ("", 1, 0)
    # the clock is pinned at 09:00 UTC: the message of 07:00 is out of the last minute
    assert (feed.count, feed.duplicates, feed.rejected, feed.per_minute) == (4, 1, 1, 3)
    assert (feed.last_received, feed.last_kind) == ("2026-01-14T09:00:01.000000Z", "ADT^Z99")
    assert [(q.control_id, q.reason) for q in reader.quarantined(limit=1)] == [("5", "unknown")]
    reader.close()
    writer.close()
    assert os.stat(log_path(tmp_path)).st_mode & 0o077 == 0
    with sqlite3.connect(log_path(tmp_path)) as db:
        db.execute("PRAGMA user_version = 2")
    db.close()
    with pytest.raises(LogError, match="has schema version 2; this Relève writes version 1"):
        LogWriter(tmp_path)
