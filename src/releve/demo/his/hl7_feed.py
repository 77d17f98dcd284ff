"""The demo's HL7 v2 feed: what a second establishment's interface engine sends over MLLP.

The demo HIS serves the Centre hospitalier des Trois-Rivières over FHIR, and the FHIR
capture takes all of it. Sending those same patients over HL7 as well would show each of
them twice on the stations. So the feed stands for another establishment of the same
hospital group (its own IPP, stay numbers and wards, under its own OIDs), whose HIS has
no FHIR API, only an HL7 v2 feed: the demo hospital generator makes it (another seed, a
few beds), and the feed sends its patients of today (inpatients and the emergency
department, each with their past stays) and their laboratory results, as
hl7_messages.py writes them. The stations then show both establishments, one over each
source, in one vault and one chain.

Sending is what an interface engine does: one connection, each message in event-time
order, the next one only once the ACK of this one has come back; a missing ACK (time-out,
connection lost) sends the same message again (the same MSH-10: the receiver knows it
already if it had stored it); an AE or AR ACK is logged and the feed goes on. Nothing
about a patient is logged, only kinds, control ids and counts.

    python -m releve.demo.his.hl7_feed --port P [--seed S --beds B --now T]
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import hl7
from hl7.client import CR, EB, SB, MLLPClient

from ... import logs
from ...errors import ReleveError
from .hl7_messages import Hospital, Outgoing, Sender, messages
from .load import census_of

log = logging.getLogger("releve.demo.hl7")

# The other establishment: its identifiers under OIDs of its own (2.999: the examples' arc),
# its wards' names saying where they are (the FHIR hospital has wards of the same names)
OTHER = Sender(application="SIH-SABLES", facility="SABLES", namespace="SABLES",
               facility_oid="2.999.33.2", ward_suffix=" – site des Sables",
               arcs={"2.999.33.1": "2.999.33.2"})
OTHER_SEED_OFFSET = 1000  # the demo's seed + this: other people than the FHIR hospital's
OTHER_BEDS = 12
ACK_SECONDS = 10.0  # an ACK later than this is missing: the message is sent again
RETRY_SECONDS = 1.0


class AckError(ReleveError):
    """No usable ACK for the message sent (none, cut, or for another message)."""


@dataclass
class Tally:
    """What a run of the feed did."""

    sent: int = 0
    accepted: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (control id, AE/AR)
    resent: int = 0


def establishment(seed: int, beds: int, now: str | None) -> Hospital:
    """The other establishment's data: its site and staff, and its patients of today
    (inpatients, emergency department) with their whole record."""
    return Hospital(census_of(seed, beds, now), OTHER)


class Feed:
    """One MLLP connection to a receiver, (re)opened as needed."""

    def __init__(self, host: str, port: int, ack_seconds: float = ACK_SECONDS,
                 stop: threading.Event | None = None):
        self.host, self.port, self.ack_seconds = host, port, ack_seconds
        self.stop = stop or threading.Event()
        self.client: MLLPClient | None = None

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def _connected(self) -> MLLPClient:
        """The open connection, or a new one once the receiver accepts (it may not be
        listening yet: the demo starts them together)."""
        while self.client is None:
            try:
                client = MLLPClient(self.host, self.port)
            except OSError:
                if self.stop.wait(RETRY_SECONDS):
                    raise InterruptedError("stopped") from None
                continue
            client.socket.settimeout(self.ack_seconds)
            self.client = client
        return self.client

    def send(self, message: Outgoing, tally: Tally | None = None) -> str:
        """Send until an ACK for this message comes back; its code (AA, AE, AR)."""
        tally = tally if tally is not None else Tally()
        tries = 0
        while True:
            client = self._connected()
            tries += 1
            try:
                client.socket.sendall(SB + message.encoded() + EB + CR)
                code = self._ack(client, message.control_id)
            except (OSError, AckError) as exc:
                self.close()
                tally.resent += 1
                log.warning("%s %s: no ACK (%s); sending it again", message.kind,
                            message.control_id, type(exc).__name__)
                if self.stop.wait(min(RETRY_SECONDS * tries, 10.0)):
                    raise InterruptedError("stopped") from None
                continue
            tally.sent += 1
            if code in ("AA", "CA"):
                tally.accepted += 1
            else:
                tally.refused.append((message.control_id, code))
                log.warning("%s %s refused: %s", message.kind, message.control_id, code)
            return code

    def _ack(self, client: MLLPClient, control_id: str) -> str:
        """Read one framed ACK and check it answers `control_id`; its MSA-1."""
        data = b""
        while not data.endswith(EB + CR):
            chunk = client.socket.recv(4096)
            if not chunk:
                raise AckError("connection closed")
            data += chunk
        start = data.find(SB)
        if start < 0:
            raise AckError("not an MLLP frame")
        try:
            ack = hl7.parse(data[start + 1:-2].decode("utf-8", errors="replace"))
            msa = ack.segment("MSA")
        except (KeyError, hl7.ParseException) as exc:
            raise AckError("not an ACK") from exc
        if str(msa[2]) != control_id:
            raise AckError("an ACK for another message")
        return str(msa[1])


def send_all(outgoing: Iterable[Outgoing], host: str, port: int,
             stop: threading.Event | None = None, ack_seconds: float = ACK_SECONDS) -> Tally:
    """Every message in turn on one connection, each once its ACK has come back."""
    tally = Tally()
    feed = Feed(host, port, ack_seconds, stop)
    try:
        for message in outgoing:
            if feed.stop.is_set():
                raise InterruptedError("stopped")
            feed.send(message, tally)
    finally:
        feed.close()
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m releve.demo.his.hl7_feed",
                                     description="Send the demo's second establishment as "
                                                 "HL7 v2 messages over MLLP.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1 + OTHER_SEED_OFFSET)
    parser.add_argument("--beds", type=int, default=OTHER_BEDS)
    parser.add_argument("--now", default=None, help="the establishment's now (ISO 8601)")
    args = parser.parse_args(argv)
    logs.configure()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    started = time.monotonic()
    outgoing = messages(establishment(args.seed, args.beds, args.now))
    log.info("%d messages to send to %s:%d", len(outgoing), args.host, args.port)
    try:
        tally = send_all(outgoing, args.host, args.port, stop)
    except InterruptedError:
        log.info("stopped before the end")
        return 0
    log.info("%d messages sent in %.1f s: %d accepted, %d refused, %d sent again",
             tally.sent, time.monotonic() - started, tally.accepted, len(tally.refused), tally.resent)
    while not stop.wait(3600):  # a feed stays connected; this one has nothing more to say
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
