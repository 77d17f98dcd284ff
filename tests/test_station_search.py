"""Patient search on real station indexes: the demo hospital (French names, beds, IPP, INS)
and the Synthea patients (American names), each built once for the module."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from releve.station.index.connection import reader
from releve.station.sync import init_station
from releve.station.text import fold
from releve.station.views.collation import person_key
from releve.station.views.search import search
from releve.station.views.search.fuzzy import bounded_distance
from releve.station.views.search.hits import Hit
from releve.station.views.search.query import parse
from releve.vault.keys import create_signer, create_station_identity
from releve.vault.store import LocalVault

from conftest import run_releve

NOW = "2026-11-22T06:00:00+01:00"
SYNC = ("import sys; from pathlib import Path; from releve.station.sync import open_source, "
        "sync_once; sync_once(Path(sys.argv[1]), open_source(sys.argv[2]))")


def _station(root: Path, data: Path) -> sqlite3.Connection:
    """A real station index: keys, a vault, `releve import`, then a sync."""
    identity, recipient = create_station_identity(root / "keys", "station")
    signing_key, public_key, _ = create_signer(root / "keys", "capture")
    LocalVault.init(root / "vault", [recipient], [str(public_key)], checkpoint_interval=50)
    run_releve("import", "--vault", root / "vault", "--signing-key", signing_key,
               "--state", root / "state", data)
    init_station(root / "station", identity)
    return _sync(root)


def _sync(root: Path, before: str = "") -> sqlite3.Connection:
    """Sync the station under `root` from its vault, in a process of its own, as a station
    runs it (and away from pytest's threads); `before`: Python run first in it."""
    result = subprocess.run([sys.executable, "-c", before + SYNC, root / "station", root / "vault"],
                            capture_output=True, timeout=600)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    conn = reader(root / "station")
    assert conn is not None
    return conn


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    root = tmp_path_factory.mktemp("search-demo")
    run_releve("demo", "generate", "--out", root / "export", "--beds", "20", "--seed", "3",
               "--now", NOW)
    conn = _station(root, root / "export")
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def synthea(tmp_path_factory: pytest.TempPathFactory, synthea_dir: Path) -> sqlite3.Connection:
    conn = _station(tmp_path_factory.mktemp("search-synthea"), synthea_dir)
    yield conn
    conn.close()


def _patients(conn: sqlite3.Connection, where: str = "1", params: tuple = ()) -> list[tuple]:
    return conn.execute(f"SELECT id, family, given, birth_date, ipp, ins FROM patients "
                        f"WHERE {where} ORDER BY id", params).fetchall()


def _admitted(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT patient FROM stays WHERE current = 1")}


def _assert_ranked(conn: sqlite3.Connection, hits: list[Hit]) -> None:
    """Score never rises; at equal score admitted patients come first, then A to Z in
    French order (views/collation.py: accents, case and spaces do not count)."""
    admitted = _admitted(conn)
    keys = [(-h.score, h.id not in admitted, *person_key(h.family, h.given)[:2]) for h in hits]
    assert keys == sorted(keys)


# --- names ------------------------------------------------------------------------------------


def test_accents_and_case_are_ignored(demo):
    hits = search(demo, "helene")
    assert hits and all("helene" in fold(h.given or "").split() or h.why == "name" for h in hits)
    with_given = [h for h in hits if "helene" in fold(h.given or "").split()]
    assert with_given and all("Hélène" in h.given for h in with_given)
    expected = {p[0] for p in _patients(demo) if "helene" in fold(p[2] or "").split()}
    assert {h.id for h in search(demo, "HÉLÈNE", limit=1000)} >= expected


def test_every_word_must_match_in_any_order(demo):
    family, given = demo.execute("SELECT family, given FROM patients WHERE given NOT LIKE '% %' "
                                 "AND family NOT LIKE '% %' LIMIT 1").fetchone()
    one = search(demo, f"{given} {family}", limit=100)
    other = search(demo, f"{family.upper()} {fold(given)}", limit=100)
    assert [h.id for h in one] == [h.id for h in other]
    assert one and all(fold(family) in fold(f"{h.family} {h.given}") or h.why == "name"
                       for h in one)
    exact = {p[0] for p in _patients(demo, "family = ? AND given = ?", (family, given))}
    assert exact <= {h.id for h in one}
    assert all(h.why == "name" for h in one)


def test_prefix_finds_and_ranks_below_exact(demo):
    family = demo.execute("SELECT family FROM patients GROUP BY family ORDER BY count(*) DESC "
                          "LIMIT 1").fetchone()[0]
    prefix = fold(family)[:4]
    hits = search(demo, prefix, limit=200)
    assert hits and all(h.why == "name" for h in hits)
    assert any(fold(h.family or "") == fold(family) for h in hits)
    _assert_ranked(demo, hits)
    exact = search(demo, fold(family), limit=5)
    assert exact[0].score > hits[-1].score  # the whole word outranks a mere prefix
    assert all(h.score == hits[0].score for h in hits if fold(h.family or "").startswith(prefix)
               and prefix not in fold(f"{h.family} {h.given}").split())


@pytest.mark.parametrize("edit", ["substitute", "transpose", "double"])
def test_one_typo_in_a_real_family_name_finds_the_patient(demo, edit):
    pid, family, given = demo.execute(
        "SELECT id, family, given FROM patients WHERE length(family) >= 7 AND family NOT LIKE '% %' "
        "AND family NOT LIKE '%-%' ORDER BY id LIMIT 1 OFFSET 17").fetchone()
    word = fold(family)
    typo = {"substitute": word[:-2] + ("x" if word[-2] != "x" else "y") + word[-1],
            "transpose": word[:3] + word[4] + word[3] + word[5:],
            "double": word[:4] + word[4] + word[4:]}[edit]
    assert typo != word
    hits = search(demo, f"{typo} {fold(given.split()[0])}")
    assert pid in [h.id for h in hits[:3]]
    assert next(h for h in hits if h.id == pid).why == "name (approx.)"


def test_the_briefs_examples(demo):
    assert fold("Lemaître") == "lemaitre"
    for typo, right in (("helenne", "helene"), ("lasale", "lassalle"), ("dupond", "dupont")):
        assert bounded_distance(typo, right, 2) is not None
        found = search(demo, typo)
        if any(right in fold(f"{p[1]} {p[2]}").split() for p in _patients(demo)):
            names = demo.execute("SELECT name_norm FROM patients WHERE id = ?", (found[0].id,))
            assert right in names.fetchone()[0].split()  # family, given or birth name


def test_exact_beats_approximate(demo):
    family = demo.execute("SELECT family FROM patients WHERE family = 'Dupont' OR family = "
                          "'Durand' LIMIT 1").fetchone()[0]
    hits = search(demo, fold(family), limit=1000)
    whys = [h.why for h in hits]
    assert whys[0] == "name"
    assert whys == sorted(whys, key=lambda w: w != "name")


def test_admitted_patients_come_first_at_equal_match(demo):
    admitted = _admitted(demo)
    family = demo.execute(
        "SELECT p.family FROM patients p JOIN stays s ON s.patient = p.id AND s.current = 1 "
        "GROUP BY p.family ORDER BY (SELECT count(*) FROM patients q WHERE q.family = p.family) "
        "DESC LIMIT 1").fetchone()[0]
    hits = search(demo, family, limit=1000)
    _assert_ranked(demo, hits)
    inside = [h for h in hits if h.id in admitted and fold(h.family) == fold(family)]
    assert inside and all(h.location and h.location_name for h in inside)
    top = [h for h in hits if h.score == hits[0].score]
    flags = [h.id in admitted for h in top]
    assert flags == sorted(flags, reverse=True)


def test_short_queries_are_family_prefixes(demo):
    for text in ("l", "Le", "ma"):
        hits = search(demo, text)
        assert hits and len(hits) <= 30
        assert all(fold(h.family or "").startswith(fold(text)) for h in hits)
        _assert_ranked(demo, hits)


def test_limit_and_empty(demo):
    assert search(demo, "") == [] and search(demo, "   ") == [] and search(demo, "\t\n") == []
    assert len(search(demo, "mar", limit=5)) == 5
    assert len(search(demo, "mar")) == 30


# --- dates and identifiers --------------------------------------------------------------------


def test_birth_date_in_every_format_finds_exactly_those_born_that_day(demo):
    day = demo.execute("SELECT birth_date FROM patients GROUP BY birth_date "
                       "ORDER BY count(*) DESC, birth_date LIMIT 1").fetchone()[0]
    year, month, date = day.split("-")
    born = {p[0] for p in _patients(demo, "birth_date = ?", (day,))}
    for text in (f"{date}/{month}/{year}", f"{int(date)}/{int(month)}/{year}",
                 f"{date}-{month}-{year}", day, f"{date}{month}{year}"):
        hits = search(demo, text, limit=100)
        assert {h.id for h in hits if h.why == "birth date"} == born, text
        assert all(h.birth_date == day for h in hits if h.why != "ipp")
    assert parse("31/02/1950").dates == []


def test_name_and_birth_date_together(demo):
    pid, family, day = demo.execute("SELECT id, family, birth_date FROM patients "
                                    "ORDER BY id LIMIT 1 OFFSET 5").fetchone()
    year, month, date = day.split("-")
    hits = search(demo, f"{fold(family)} {date}/{month}/{year}")
    assert pid in {h.id for h in hits}
    assert all(h.birth_date == day and fold(family) in fold(f"{h.family} {h.given}")
               for h in hits)
    assert search(demo, f"zzzzyx {date}/{month}/{year}") == []


def test_ipp_and_ins_find_the_one_patient(demo):
    pid, ipp, ins = demo.execute("SELECT id, ipp, ins FROM patients WHERE ins IS NOT NULL "
                                 "ORDER BY id LIMIT 1 OFFSET 9").fetchone()
    hits = search(demo, ipp)
    assert hits[0].id == pid and hits[0].why == "ipp" and hits[0].ipp == ipp
    assert [h.id for h in hits if h.why == "ipp"] == [pid]
    spaced = " ".join((ins[0], ins[1:3], ins[3:5], ins[5:7], ins[7:10], ins[10:13], ins[13:]))
    for text in (ins, spaced, f"  {spaced} "):
        hits = search(demo, text)
        assert [h.id for h in hits] == [pid] and hits[0].why == "ins"


# --- beds -------------------------------------------------------------------------------------


def test_bed_search_finds_the_patient_in_that_bed(demo):
    rows = demo.execute(
        "SELECT s.patient, l.id, l.name, u.name FROM stays s JOIN locations l ON l.id = s.location "
        "JOIN locations r ON r.id = l.part_of JOIN locations u ON u.id = r.part_of "
        "WHERE s.current = 1 AND l.physical_type = 'bd' AND l.name LIKE 'Lit %' ORDER BY l.id"
    ).fetchall()
    assert rows
    patient, location, bed, unit = rows[len(rows) // 2]
    number = bed.split()[1]
    for text in (bed, bed.lower(), f"lit {number}", number):
        hits = search(demo, text)
        assert patient in [h.id for h in hits], text
        hit = next(h for h in hits if h.id == patient)
        assert hit.why == "bed" and hit.location == location
        assert hit.location_name == f"{bed} · {unit}"
        assert all(h.why == "bed" and number in h.location_name.split(" · ")[0].split()
                   for h in hits if h.location_name and h.why == "bed")


# --- hostile input ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ['"', "*", "NEAR(", "a OR b", "'; drop table patients; --",
                                  "-", "(", ")", "^", "martin*", '"martin"', "NOT martin",
                                  "martin AND", "col:martin", "%", "_", "\\", "\x00", "é" * 300,
                                  "1" * 400, "12/13/2000", "lit", "9999999"])
def test_hostile_queries_return_lists(demo, text):
    hits = search(demo, text)
    assert isinstance(hits, list) and len(hits) <= 30
    assert demo.execute("SELECT count(*) FROM patients").fetchone()[0] > 0


def test_bounded_distance():
    assert bounded_distance("dupond", "dupont", 1) == 1
    assert bounded_distance("lergand", "legrand", 1) == 1  # a swap is one edit
    assert bounded_distance("lasale", "lassalle", 2) == 2
    assert bounded_distance("martin", "marion", 1) is None
    assert bounded_distance("abc", "abcdef", 2) is None


# --- Synthea: American names, MR numbers, no beds -------------------------------------------------


def test_synthea_names_ids_and_dates(synthea):
    pid, family, given, day, ipp, _ = _patients(synthea)[7]
    assert search(synthea, family)[0].family == family
    hits = search(synthea, f"{fold(given.split()[0])} {family.lower()}")
    assert hits[0].id == pid and hits[0].why == "name"
    word = fold(family)
    typo = word[:3] + word[4] + word[3] + word[5:] if len(word) >= 6 else word + word[-1]
    assert pid in [h.id for h in search(synthea, f"{typo} {fold(given.split()[0])}")[:3]]
    if ipp:
        assert search(synthea, ipp)[0].id == pid
    year, month, date = day.split("-")
    born = {p[0] for p in _patients(synthea, "birth_date = ?", (day,))}
    assert {h.id for h in search(synthea, f"{date}/{month}/{year}")} == born
    _assert_ranked(synthea, search(synthea, fold(family)[:3]))


# --- the name-word index ------------------------------------------------------------------------


def _brute_force(conn: sqlite3.Connection, text: str, limit: int = 30) -> list[str]:
    """The ranking the search promises, computed over every patient in Python: per query
    word the best of exact (4), prefix (2), infix (1); the mean; admitted first; A to Z."""
    words = fold(text).split()
    admitted = _admitted(conn)
    ranked = []
    for pid, names, key in conn.execute("SELECT id, name_norm, sort_key FROM patients"):
        grades = []
        for word in words:
            grade = max((4 if n == word else 2 if n.startswith(word) else
                         1 if len(word) >= 3 and word in n else 0) for n in names.split())
            grades.append(grade)
        if min(grades) > 0:
            ranked.append((-sum(grades) / len(grades), pid not in admitted, key, pid))
    return [r[3] for r in sorted(ranked)[:limit]]


@pytest.mark.parametrize("text", ["mar", "ber", "martin", "dupont", "ine", "ois", "marie dupont",
                                  "jean le", "le goff", "le mar"])
def test_ranking_read_off_the_word_index_equals_brute_force(demo, text):
    expected = _brute_force(demo, text)
    assert expected, text
    assert [h.id for h in search(demo, text)] == expected
    assert [h.id for h in search(demo, text, limit=7)] == expected[:7]


def test_word_tables_say_what_the_patients_say(demo):
    admitted = _admitted(demo)
    assert admitted
    pairs = sorted((w, int(pid not in admitted), key, rowid) for rowid, pid, names, key in
                   demo.execute("SELECT rowid, id, name_norm, sort_key FROM patients")
                   for w in names.split())
    assert sorted(demo.execute("SELECT word, rank, sort_key, patient_rowid FROM patient_words")) \
        == pairs
    counts: dict[str, int] = {}
    for word, *_ in pairs:
        counts[word] = counts.get(word, 0) + 1
    assert dict(demo.execute("SELECT word, n FROM words")) == counts
    assert len(counts) < len(pairs) / 5  # names repeat: the typo work is over few words
    grams = demo.execute("SELECT word FROM word_grams WHERE word_grams MATCH '\"ene\"'")
    assert sorted(w for (w,) in grams) == sorted(w for w in counts if "ene" in w)


def test_a_short_name_with_a_letter_dropped_is_found(demo):
    """No trigram of "dubis" is in "dubois": the words of the same initial are met too."""
    rows = demo.execute("SELECT id, family FROM patients WHERE length(family) = 6 "
                        "AND family NOT LIKE '% %' AND family NOT LIKE '%-%' ORDER BY id").fetchall()
    tried = 0
    for pid, family in rows[:40]:
        word = fold(family)
        typo = word[:3] + word[4:]
        if _brute_force(demo, typo):
            continue  # the typo is itself a piece of some name: not a typo test
        hits = search(demo, typo, limit=1000)
        assert pid in [h.id for h in hits], typo
        assert all(h.why == "name (approx.)" for h in hits)
        tried += 1
    assert tried >= 5


def _stay(encounter: str, patient: str, status: str) -> dict:
    return {"resourceType": "Encounter", "id": encounter, "status": status,
            "class": {"code": "IMP"}, "subject": {"reference": f"Patient/{patient}"}}


def test_a_delta_keeps_the_word_index_in_step(tmp_path):
    """A renamed patient is found by the new name only, a deleted one not at all, a name
    word no one bears any more leaves the vocabulary, and a stay begun or ended moves its
    patient in the ranking."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    people = [{"resourceType": "Patient", "id": f"p{i}", "birthDate": "1960-01-02",
               "name": [{"family": family, "given": [given]}]}
              for i, (family, given) in enumerate([("Hérault", "Anaïs"), ("Quemener", "Yves"),
                                                   ("Hérault", "Paul"), ("Zénon", "Ève")])]
    (first / "Patient.ndjson").write_bytes(b"".join(orjson.dumps(p) + b"\n" for p in people))
    (first / "Encounter.ndjson").write_bytes(orjson.dumps(_stay("e0", "p0", "in-progress")) + b"\n")
    conn = _station(tmp_path, first)
    assert [h.id for h in search(conn, "herault")] == ["p0", "p2"]  # p0 is admitted
    conn.close()
    renamed = {**people[1], "name": [{"family": "Kervella", "given": ["Yves"]}]}
    (second / "Patient.ndjson").write_bytes(orjson.dumps(renamed) + b"\n")
    (second / "Encounter.ndjson").write_bytes(  # p0 leaves, p2 comes in
        orjson.dumps(_stay("e0", "p0", "finished")) + b"\n"
        + orjson.dumps(_stay("e2", "p2", "in-progress")) + b"\n")
    bundle = {"resourceType": "Bundle", "type": "transaction",
              "entry": [{"request": {"method": "DELETE", "url": "Patient/p3"}}]}
    (second / "deletions.json").write_bytes(orjson.dumps(bundle))
    keys = tmp_path / "keys"
    run_releve("import", "--vault", tmp_path / "vault", "--signing-key",
               keys / "capture.minisign.key", "--state", tmp_path / "state", second)
    result = subprocess.run([sys.executable, "-c", SYNC, tmp_path / "station", tmp_path / "vault"],
                            capture_output=True, timeout=600)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    conn = reader(tmp_path / "station")
    assert conn.execute("SELECT count(*) FROM segments WHERE outcome = 'applied'").fetchone() == (2,)
    assert [h.id for h in search(conn, "kervela")] == ["p1"]  # a typo of the new name
    assert [h.id for h in search(conn, "yves kervella")] == ["p1"]
    assert search(conn, "quemener") == [] and search(conn, "zenon") == []
    vocabulary = dict(conn.execute("SELECT word, n FROM words"))
    assert "quemener" not in vocabulary and "zenon" not in vocabulary and "eve" not in vocabulary
    assert vocabulary["herault"] == 2 and vocabulary["kervella"] == 1
    assert [h.id for h in search(conn, "herault")] == ["p2", "p0"]  # now p2 is the admitted one
    assert [h.id for h in search(conn, "herau")] == ["p2", "p0"]
    assert dict(conn.execute("SELECT patient_rowid, rank FROM patient_words WHERE word = 'herault'")) \
        == dict(conn.execute("SELECT rowid, id != 'p2' FROM patients WHERE id IN ('p0', 'p2')"))
    assert conn.execute("SELECT count(*) FROM word_grams WHERE word_grams MATCH '\"zen\"'"
                        ).fetchone() == (0,)
    conn.close()
