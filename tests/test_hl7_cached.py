"""The segment writer maps a patient group again at the cost of what is new
(capture/hl7/cached.py): the same bytes as mapping every message again."""

from __future__ import annotations

from releve.capture.hl7.datatypes import PARIS
from test_hl7_capture import IPP_OID, admission, merge, potassium


def test_a_group_mapped_again_reads_only_what_is_new_and_gives_the_same_bytes(tmp_path):
    """Interval after interval (results before any admission, a correction, a result
    older than those already mapped (for a patient known by results alone, whose Patient
    then comes from a result read before), a merge that changes the survivor, a result under
    the merged-away number), mapping a group with the outputs kept gives byte for byte
    what mapping all its messages again gives, and reads again only the new results and
    those the merge files under another Patient; a stale output (other
    bytes) is read again."""
    from releve.capture.hl7.cached import Outputs
    from releve.capture.hl7.log import Arrival, LogReader, LogWriter, received_now
    from releve.capture.hl7.message import read
    from releve.capture.hl7.projection import Mapped, Projection
    from releve.capture.hl7.segments import linked_groups, map_group, ndjson

    steps = [
        [potassium("111", "V1", "L1", "4.2", when="20260114090000")],
        [admission("111", "V1", "M1"),
         potassium("111", "V1", "L2", "4.8", when="20260114100000", filler="RES2")],
        [potassium("111", "V1", "L3", "5.1", when="20260114110000"),
         potassium("333", "V3", "L6", "4.1", when="20260114120000", filler="RES6")],
        [potassium("111", "V1", "L0", "3.9", when="20260114080000"),
         potassium("333", "V3", "L7", "4.3", when="20260114100000", filler="RES7")],
        [admission("222", "V2", "M2"), potassium("222", "V2", "L4", "4.0", filler="RES4")],
        [merge("222", "111", "M3")],
        [potassium("111", "V1", "L5", "4.4", when="20260114130000", filler="RES5")],
    ]
    state = tmp_path / "state"
    log_writer, reader, projection = LogWriter(state), LogReader(state), Projection(state)
    values: list[dict[str, float]] = []
    read_again: list[list[str]] = []
    try:
        for raws in steps:
            messages = [read(raw) for raw in raws]
            log_writer.write([Arrival(received_now(), m.header.sender, m.header.control_id,
                                      m.header.kind, m.event_time, m.patient, m.merged, m.raw)
                              for m in messages])
            new = reader.after(projection.mapped_through, 100)
            linked = linked_groups(reader.merges())
            touched = {frozenset(linked.get(s.patient, {s.patient})) for s in new if s.patient}
            outputs, mapped = Outputs(projection, PARIS), []
            for members in sorted(touched, key=sorted):
                stored = reader.about(set(members))
                group, produced = map_group(stored, members, PARIS, outputs)
                again_group, again = map_group(stored, members, PARIS)
                assert group == again_group
                assert ndjson(produced, [], []) == ndjson(again, [], [])
                mapped.append(Mapped(group, frozenset(produced)))
                if f"{IPP_OID}|111" in members:
                    values.append({r["id"]: r["valueQuantity"]["value"] for r in produced.values()
                                   if r["resourceType"] == "Observation"})
            by_seq = {s.seq: s.control_id for s in reader.after(0, 100)}
            read_again.append(sorted(by_seq[seq] for seq in outputs.fresh))
            projection.record(new[-1].seq, mapped, {}, outputs.fresh.items())
        assert read_again == [["L1"], ["L2"], ["L3", "L6"], ["L0", "L7"], ["L4"],
                              ["L0", "L1", "L2", "L3"], ["L5"]]
        assert [sorted(v.values()) for v in values[:4]] == [[4.2], [4.2, 4.8], [4.8, 5.1],
                                                            [4.8, 5.1]]
        assert sorted(values[-1].values()) == [4.0, 4.4, 4.8, 5.1]
        # an output kept for other bytes (a log made again) is not trusted
        projection.db.execute("UPDATE output SET digest = zeroblob(16)")
        members = frozenset({f"{IPP_OID}|111", f"{IPP_OID}|222"})
        outputs = Outputs(projection, PARIS)
        stored = reader.about(set(members))
        assert ndjson(map_group(stored, members, PARIS, outputs)[1], [], []) == ndjson(
            map_group(stored, members, PARIS)[1], [], [])
        assert len(outputs.fresh) == 6
    finally:
        log_writer.close()
        reader.close()
        projection.close()


def test_each_interval_keeps_the_outputs_of_what_it_mapped(tmp_path, keys, vault_dir):
    """The segment writer's interval records, with its projection, the outputs of the
    results it read (not of the ADT messages, which the stay's fold reads every time);
    the next interval reads only its new result, and writes only what it gives."""
    from releve.capture.hl7.log import Arrival, LogReader, LogWriter, received_now
    from releve.capture.hl7.message import read
    from releve.capture.hl7.projection import Projection
    from releve.capture.hl7.segments import write_interval
    from releve.capture.writer import Writer
    from releve.vault.keys import load_signer
    from releve.vault.store import LocalVault

    state = tmp_path / "state"
    log_writer, reader, projection = LogWriter(state), LogReader(state), Projection(state)
    writer = Writer(LocalVault(vault_dir), load_signer(keys.signing_key), state)

    def logged(*raws: bytes) -> None:
        messages = [read(raw) for raw in raws]
        log_writer.write([Arrival(received_now(), m.header.sender, m.header.control_id,
                                  m.header.kind, m.event_time, m.patient, m.merged, m.raw)
                          for m in messages])

    def kept() -> list[int]:
        return [seq for (seq,) in projection.db.execute("SELECT seq FROM output ORDER BY seq")]

    try:
        logged(admission("111", "V1", "M1"), potassium("111", "V1", "L1"),
               potassium("111", "V1", "L2", "4.8", when="20260114100000", filler="RES2"))
        first = write_interval(reader, projection, writer)
        assert first is not None and first.written is not None
        assert kept() == [2, 3]
        logged(potassium("111", "V1", "L3", "5.0", when="20260114110000", filler="RES3"))
        second = write_interval(reader, projection, writer)
        assert second is not None and second.written is not None
        assert kept() == [2, 3, 4]
        assert second.written.types["Observation"]["put"] == 1
    finally:
        writer.close()
        log_writer.close()
        reader.close()
        projection.close()
