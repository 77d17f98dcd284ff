"""Capture from HL7 v2 feeds over MLLP: the second source of the vault.

Most French hospital information systems send admissions, movements, results and orders
as HL7 v2 messages through an interface engine rather than through a FHIR API. This
package receives a copy of those feeds and writes what they say into the same vault as
the FHIR capture, as FHIR R4 resources, so that nothing downstream changes.

Two processes share the work (docs/hl7/README.md):

- the listener (`listener.py`, `log.py`) frames MLLP (`message.py` reads a message with
  python-hl7), writes each message durably to the local message log and only then
  acknowledges it; it never waits on the vault;
- every interval, the segment writer (`segments.py`, `projection.py`) maps what arrived
  (`mapping/`) and appends one segment through the capture's writer, with the raw
  messages kept beside what they produced (Binary resources), so a better mapping can be
  replayed from the vault alone.

Every resource this source writes has an id beginning with `v2-` (`mapping/ids.py`): the
FHIR capture, sharing the same writer state, leaves those ids alone.
"""
