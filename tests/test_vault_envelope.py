"""The age header read without a key (docs/format.md 6): the grammar's edges that the
corpus's whole vaults do not reach."""

from __future__ import annotations

import io

import pyrage
import pytest
from pyrage import x25519

from releve.vault import envelope


def _encrypted(recipients: int) -> bytes:
    out = io.BytesIO()
    pyrage.encrypt_io(io.BytesIO(b"plaintext"), out,
                      [x25519.Identity.generate().to_public() for _ in range(recipients)])
    return out.getvalue()


def test_a_header_of_many_stanzas_is_read_past_the_first_read(tmp_path):
    segment = tmp_path / "0000000001.age"
    segment.write_bytes(_encrypted(300))  # about 30 KB of header
    types = envelope.stanza_types(segment)
    assert types.count("X25519") == 300
    envelope.check_recipients(types, 300)
    with pytest.raises(envelope.EnvelopeError, match="encrypted to 300 recipients, the config lists 299"):
        envelope.check_recipients(types, 299)


def test_a_file_cut_inside_its_header_is_refused(tmp_path):
    segment = tmp_path / "0000000001.age"
    segment.write_bytes(_encrypted(1)[:60])
    with pytest.raises(envelope.EnvelopeError, match="^has an age header cut short or too long$"):
        envelope.stanza_types(segment)


@pytest.mark.parametrize(("header", "reason"), [
    (b"age-encryption.org/v1\n-> X25519  two-spaces\nAAAA\n--- " + b"A" * 43 + b"\n",
     "has a malformed age header (a stanza's arguments)"),
    (b"age-encryption.org/v1\n-> X25519 abc\n" + b"A" * 65 + b"\n--- " + b"A" * 43 + b"\n",
     "has a malformed age header (a stanza body line is too long)"),
    (b"age-encryption.org/v1\n-> X25519 abc\nA=\n--- " + b"A" * 43 + b"\n",
     "has a malformed age header (stanza body is not base64)"),
    (b"age-encryption.org/v1\n-> X25519 abc\n\n--- " + b"A" * 42 + b"\n",
     "has a malformed age header (MAC)"),
    (b"age-encryption.org/v1\nhello\n", "has a malformed age header (a line is neither a "
                                        "stanza nor the MAC)"),
])
def test_the_grammar_is_checked(header, reason):
    with pytest.raises(envelope.EnvelopeError) as refused:
        envelope.parse(header + b"payload")
    assert str(refused.value) == reason
