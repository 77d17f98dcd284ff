"""The HL7 capture's promise end to end: an acknowledged message reaches the vault, once.

`releve capture hl7` (listener and segment writer, every 0.3 s) is killed with SIGKILL 50
times while four feeds send; each feed, like an interface engine, sends again the
message it had no answer for, to the next listener. The listener-level trials
(test_hl7_listener.py) prove the message log keeps every ACK; these prove the path from
the log to the vault: segments cut short, a writer state left pending, a projection not
recorded, none of it loses or repeats a message in the vault.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from hl7.client import MLLPClient

from releve.capture.hl7.mapping import ids
from releve.vault.keys import load_identities
from releve.vault.state import log_records, replay
from releve.vault.store import LocalVault
from test_hl7_capture import admission, potassium, start_listener

from conftest import run_releve
from helpers import wait_until

TRIALS = 50
FEEDS = 4
PACE = 0.01  # seconds between an ACK and a feed's next message: ~300 messages/s in all,
# ten times a large hospital's ADT and results traffic, and what the mapping keeps up with


class Feeds:
    """Four engines' connections: each sends its next message only once the last one is
    acknowledged, and sends an unanswered message again first."""

    def __init__(self) -> None:
        self.acknowledged: set[str] = set()  # Binary ids of the messages answered AA
        self.unanswered: dict[int, tuple[str, bytes]] = {}
        self.sent = 0
        self.lock = threading.Lock()

    def message(self, feed: int) -> tuple[str, bytes]:
        if feed in self.unanswered:
            return self.unanswered[feed]
        with self.lock:
            self.sent += 1
            number = self.sent
        # a hospital's traffic: many patients, a few messages each
        control, ipp = f"F{feed}M{number:06d}", f"{feed}{number // 6:05d}"
        sender = "SIH|HOPITAL" if number % 2 else "LABO|HOPITAL"
        raw = (admission(ipp, f"V{ipp}", control) if number % 2
               else potassium(ipp, f"V{ipp}", control, value=f"{3 + number % 20 / 10:.1f}"))
        made = (ids.message(sender, control), raw)
        self.unanswered[feed] = made
        return made

    def send(self, port: int, feed: int, stop: threading.Event, last: bool) -> None:
        try:
            with MLLPClient("127.0.0.1", port) as client:
                while not stop.is_set() and not (last and feed not in self.unanswered):
                    binary, raw = self.message(feed)
                    answer = client.send_message(raw)
                    if not answer:
                        return  # python-hl7's client: the connection ended, no answer
                    if b"MSA|AA|" not in answer:
                        raise AssertionError(f"not acknowledged: {answer!r}")
                    self.acknowledged.add(binary)
                    del self.unanswered[feed]
                    time.sleep(PACE)
        except (OSError, EOFError):
            return  # the listener died: the message stays unanswered, sent again next time

    def run(self, port: int, last: bool = False) -> tuple[threading.Event, list[threading.Thread]]:
        """The four feeds sending; `last`: only what is still unanswered."""
        stop = threading.Event()
        threads = [threading.Thread(target=self.send, args=(port, feed, stop, last), daemon=True)
                   for feed in range(FEEDS)]
        for thread in threads:
            thread.start()
        return stop, threads


def binary_puts(vault: Path, identity: Path) -> Counter:
    """How many times each raw message was written, over every segment of the vault."""
    puts: Counter = Counter()
    for key, _, _, line in log_records(LocalVault(vault), load_identities(identity),
                                       replay(LocalVault(vault))):
        if key.startswith("Binary/") and line is not None:
            puts[key.removeprefix("Binary/")] += 1
    return puts


def group_of(pid: int) -> list[int]:
    """The process and its children (the segment writer), to see them all gone."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children")
        if children.exists():
            found += [int(child) for child in children.read_text().split()]
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


@pytest.mark.slow
def test_kill_9_while_four_feeds_send_puts_every_acknowledged_message_in_the_vault_once(
        tmp_path, keys):
    vault, state = tmp_path / "vault", tmp_path / "state"
    # no checkpoint in the way: every put of every message stays countable
    LocalVault.init(vault, [keys.recipient], [str(keys.public_key)], checkpoint_interval=10**6)
    feeds, chance = Feeds(), random.Random(1919)
    for _ in range(TRIALS):
        server, port = start_listener(vault, keys, state)
        stop, threads = feeds.run(port)
        time.sleep(chance.uniform(0.1, 1.0))  # across segment writes, at 0.3 s intervals
        processes = group_of(server.process.pid)
        os.kill(server.process.pid, signal.SIGKILL)
        stop.set()
        for thread in threads:
            thread.join(30)
        server.process.wait(10)
        wait_until("the segment writer to die with the listener",
                   lambda p=processes: not any(alive(pid) for pid in p), 20, 0.05)
    assert len(feeds.acknowledged) > 300, len(feeds.acknowledged)

    server, port = start_listener(vault, keys, state)
    try:
        _, threads = feeds.run(port, last=True)  # the messages still unanswered, no more
        for thread in threads:
            thread.join(30)
        assert not feeds.unanswered
        try:
            wait_until("every acknowledged message in the vault",
                       lambda: feeds.acknowledged <= set(binary_puts(vault, keys.identity)), 60, 0.5)
        except AssertionError:
            missing = feeds.acknowledged - set(binary_puts(vault, keys.identity))
            status = run_releve("capture", "status", "--state", state, check=False)
            raise AssertionError(f"{len(missing)} of {len(feeds.acknowledged)} missing; "
                                 f"{status.stdout.decode()}\n{server.output(5000)}") from None
    finally:
        assert server.stop() == 0, server.output()
    puts = binary_puts(vault, keys.identity)
    assert set(puts) == feeds.acknowledged  # nothing the feeds were not told was kept...
    assert set(puts.values()) == {1}  # ...and each message written once in the whole vault
    verified = run_releve("vault", "verify", vault).stdout.decode()
    assert "chain sound" in verified, verified
