"""A segment's plaintext let go before its end: a station that refuses a segment
halfway, or a `vault cat` whose reader went away, must not leave the decrypting thread
blocked on a full pipe, nor the segment's file and the pipe open, once per segment."""

from __future__ import annotations

import os
import random
import threading
import time

from pyrage import x25519

from releve.vault.segment import open_plaintext
from vault_craft import encrypt, frame


def decrypting_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "segment-decrypt" and t.is_alive()]


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_closing_a_plaintext_early_ends_its_thread_and_frees_its_files(tmp_path):
    identity = x25519.Identity.generate()
    noise = random.Random(21).randbytes(8 << 20)  # incompressible: 8 MiB through the pipe
    path = tmp_path / "0000000001.age"
    path.write_bytes(encrypt(frame(b"first line\n" + noise), [identity.to_public()]))
    before = open_descriptors()

    plaintext = open_plaintext(path, [identity])
    assert plaintext.readline() == b"first line\n"
    assert decrypting_threads(), "the thread is still decrypting: the pipe is full"
    plaintext.close()

    deadline = time.monotonic() + 10
    while decrypting_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not decrypting_threads()
    assert open_descriptors() == before


def test_a_plaintext_read_to_its_end_is_read_whole(tmp_path):
    identity = x25519.Identity.generate()
    data = b"".join(b"line %d\n" % n for n in range(200_000))
    path = tmp_path / "0000000001.age"
    path.write_bytes(encrypt(frame(data[:700_000]) + frame(data[700_000:]),
                             [identity.to_public()]))
    before = open_descriptors()
    with open_plaintext(path, [identity]) as plaintext:
        assert b"".join(plaintext) == data
    assert not decrypting_threads()
    assert open_descriptors() == before
