"""The name-word index patient search stands on, and its upkeep.

A search by name used to be a trigram full-text match over every patient's folded name:
at 100,000 patients a common piece of a name ("mar") meets tens of thousands of rows, and
a typo had to be graded against hundreds of patients. Names, though, repeat: a hospital's
patients share a few tens of thousands of distinct name words at most. So:

  words(word, n)                     every distinct folded name word, and how many
                                     patients bear it (a word no one bears is removed)
  word_grams                         a trigram full-text index over those words only:
                                     infixes and typos are resolved against words
  patient_words(word, rank, sort_key, patient_rowid)
                                     one row per (name word, patient), keyed by the word,
                                     then rank (0 admitted now, 1 not), then the patient's
                                     sort key: the first patients of a word in result
                                     order are read straight off the key, without sorting
                                     and without looking at stays

A generation build fills the three tables once, after the patients and stays are loaded;
a delta keeps them in step inside its own transaction (the words of the patients it
replaces, the rank of the patients whose stays it touches), so a kill -9 leaves them
exactly as consistent as the patients and stays tables.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable

SCHEMA = """
CREATE TABLE IF NOT EXISTS words(word TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS word_grams USING fts5(word, tokenize='trigram');
CREATE TABLE IF NOT EXISTS patient_words(
  word TEXT NOT NULL, rank INTEGER NOT NULL, sort_key TEXT NOT NULL,
  patient_rowid INTEGER NOT NULL, PRIMARY KEY(word, rank, sort_key)) WITHOUT ROWID;
"""
ADMITTED, OTHERS = 0, 1  # patient_words.rank
_RANK = "(CASE WHEN EXISTS (SELECT 1 FROM stays s WHERE s.patient = ? AND s.current = 1) THEN 0 ELSE 1 END)"
# a row's key without knowing its rank: two probes of the primary key, not a scan of the word
_ROW = "word = ? AND rank IN (0, 1) AND sort_key = ?"

# name_norm holds folded words ([0-9a-z]) separated by single spaces: as a JSON array
# literal it splits in SQL, with no quoting issue possible
_SPLIT = "json_each('[\"' || replace(p.name_norm, ' ', '\",\"') || '\"]') j"


def fill(conn: sqlite3.Connection) -> None:
    """Build the word tables from freshly loaded patients and stays (a new generation)."""
    conn.execute(f"INSERT INTO patient_words(word, rank, sort_key, patient_rowid) "
                 f"SELECT j.value, CASE WHEN p.id IN (SELECT patient FROM stays WHERE current = 1) "
                 f"THEN 0 ELSE 1 END, p.sort_key, p.rowid FROM patients p, {_SPLIT} "
                 f"WHERE j.value <> '' ORDER BY 1, 2, 3")
    conn.execute("INSERT INTO words(word, n) SELECT word, count(*) FROM patient_words GROUP BY word")
    conn.execute("INSERT INTO word_grams(rowid, word) SELECT rowid, word FROM words")


def remove_patients(conn: sqlite3.Connection, ids: Iterable[tuple[str]]) -> None:
    """Forget the name words of these patients (called before their rows are deleted)."""
    pairs = []
    for (pid,) in ids:
        row = conn.execute("SELECT name_norm, sort_key FROM patients WHERE id = ?", (pid,)).fetchone()
        if row is not None:
            pairs += [(word, row[1]) for word in row[0].split()]
    if not pairs:
        return
    conn.executemany(f"DELETE FROM patient_words WHERE {_ROW}", pairs)
    counts = Counter(word for word, _ in pairs)
    conn.executemany("UPDATE words SET n = n - ? WHERE word = ?",
                     [(n, word) for word, n in counts.items()])
    gone = [(word,) for word in counts]
    conn.executemany("DELETE FROM word_grams WHERE rowid = "
                     "(SELECT rowid FROM words WHERE word = ? AND n <= 0)", gone)
    conn.executemany("DELETE FROM words WHERE word = ? AND n <= 0", gone)


def add_patients(conn: sqlite3.Connection, ids: Iterable[str]) -> None:
    """Index the name words of these patients (called once their rows are inserted)."""
    rows = []
    for pid in ids:
        row = conn.execute(f"SELECT rowid, name_norm, sort_key, {_RANK} FROM patients WHERE id = ?",
                           (pid, pid)).fetchone()
        if row is not None:
            rows += [(word, row[3], row[2], row[0]) for word in row[1].split()]
    if not rows:
        return
    conn.executemany("INSERT INTO patient_words(word, rank, sort_key, patient_rowid) "
                     "VALUES (?,?,?,?)", rows)
    counts = Counter(row[0] for row in rows)
    known = set()
    for word in counts:
        if conn.execute("SELECT 1 FROM words WHERE word = ?", (word,)).fetchone():
            known.add(word)
    conn.executemany("UPDATE words SET n = n + ? WHERE word = ?",
                     [(counts[word], word) for word in known])
    new = [(word, n) for word, n in counts.items() if word not in known]
    conn.executemany("INSERT INTO words(word, n) VALUES (?, ?)", new)
    conn.executemany("INSERT INTO word_grams(rowid, word) SELECT rowid, word FROM words "
                     "WHERE word = ?", [(word,) for word, _ in new])


def rerank(conn: sqlite3.Connection, patients: Iterable[str | None]) -> None:
    """Set the rank of these patients' rows again from their stays (called once a delta's
    stays are in: a stay begun, ended or removed moves its patient)."""
    updates = []
    for pid in {p for p in patients if p}:
        row = conn.execute(f"SELECT name_norm, sort_key, {_RANK} FROM patients WHERE id = ?",
                           (pid, pid)).fetchone()
        if row is not None:
            updates += [(row[2], word, row[1]) for word in row[0].split()]
    conn.executemany(f"UPDATE patient_words SET rank = ? WHERE {_ROW}", updates)
