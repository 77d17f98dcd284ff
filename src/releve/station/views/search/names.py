"""The patients a name designates, read through the name-word index (index/words.py).

The query's words are first resolved against the distinct name words (vocabulary.py),
then patients are read: for one word, straight off the word's key, which is the result
order; for several, intersected in SQLite and graded there.
"""

from __future__ import annotations

import sqlite3

from ...index import words as words_table
from .hits import CURRENT_LIST, EXACT, FIELDS, INFIX, PREFIX, ROWID, Found, found, marks, rows_by_rowid
from .vocabulary import Vocabulary

RARE_ENOUGH = 2000  # patients of a query word intersected in SQLite, at least
MERGED_WORDS = 64  # up to this many matched words, each word's first patients are read apart


def by_name(conn: sqlite3.Connection, words: list[str], limit: int) -> list[Found]:
    """Exact, prefix and infix matches of every word; typos only if no patient matched
    exactly or by prefix (they would rank below them anyway)."""
    if not any(len(w) >= 3 for w in words):
        return _by_family_prefix(conn, "".join(words), limit)  # the key has no spaces
    vocabulary = Vocabulary(conn)
    matches = [vocabulary.plain(w) for w in words]
    hits = _patients_matching(conn, words, matches, limit)
    if not any(h.score >= PREFIX for h in hits) and len(words) == 1 \
            and (parts := _joined_words(conn, words[0])) is not None:
        if joined := by_name(conn, parts, limit):
            return joined
    if not any(h.score >= PREFIX for h in hits):
        for word, match in zip(words, matches, strict=True):
            for other, score in vocabulary.approx(word).items():
                match.setdefault(other, score)
        hits = _patients_matching(conn, words, matches, limit)
    return hits


def _joined_words(conn: sqlite3.Connection, word: str) -> list[str] | None:
    """Two name words typed as one ("dupontmarie", "mariedupont"), when the word is no
    name: the first split of it into two words that are both names, each at least two
    letters (a probe of the words' key per split)."""
    for cut in range(2, len(word) - 1):
        parts = [word[:cut], word[cut:]]
        known = conn.execute("SELECT count(*) FROM words WHERE word IN (?, ?)", parts).fetchone()[0]
        if known == 2:
            return parts
    return None


def _patients_matching(conn: sqlite3.Connection, words: list[str],
                       matches: list[dict[str, float]], limit: int) -> list[Found]:
    """The best `limit` patients bearing, for every query word, one of its matched words."""
    if not all(matches):
        return []
    if len(matches) == 1:
        return _one_word(conn, matches[0], limit)
    return _several_words(conn, words, matches, limit)


def _one_word(conn: sqlite3.Connection, match: dict[str, float], limit: int) -> list[Found]:
    """Grade by grade, best first, the patients bearing one of the grade's words in result
    order (admitted first, then A to Z: the order of the word index's key), until the
    page is full."""
    by_grade: dict[float, list[str]] = {}
    for word, grade in match.items():
        by_grade.setdefault(grade, []).append(word)
    chosen: dict[int, tuple[float, bool]] = {}  # rowid: (grade, admitted), in result order
    for grade in sorted(by_grade, reverse=True):
        need = limit - len(chosen)
        if need <= 0:
            break
        for rowid, rank in _first_bearing(conn, by_grade[grade], need + len(chosen)):
            if rowid not in chosen:
                chosen[rowid] = (grade, rank == words_table.ADMITTED)
                need -= 1
                if need == 0:
                    break
    rows = {r[ROWID]: r for r in rows_by_rowid(conn, list(chosen))}
    hits = []
    for rowid, (grade, admitted) in chosen.items():
        row = rows[rowid]
        hits.append(Found(*row[:10], current=admitted, score=grade,
                          why="name" if grade >= INFIX else "name (approx.)"))
    return hits


def _first_bearing(conn: sqlite3.Connection, group: list[str], count: int) -> list[tuple[int, int]]:
    """(rowid, rank) of the first `count` patients in result order bearing one of the
    words. For a few words, each word's first `count` are read off its key and merged
    (whatever the overlap between words, the first `count` overall are among them); for
    many, SQLite sorts."""
    if len(group) <= MERGED_WORDS:
        each = " UNION ALL ".join(
            "SELECT * FROM (SELECT patient_rowid, rank, sort_key FROM patient_words "
            "WHERE word = ? ORDER BY rank, sort_key LIMIT ?)" for _ in group)
        params: list = []
        for word in group:
            params += [word, count]
        sql = (f"SELECT patient_rowid, rank FROM ({each}) GROUP BY patient_rowid "
               f"ORDER BY rank, sort_key LIMIT ?")
        return conn.execute(sql, (*params, count)).fetchall()
    sql = (f"SELECT patient_rowid, rank FROM patient_words WHERE word IN ({marks(group)}) "
           f"GROUP BY patient_rowid ORDER BY rank, sort_key LIMIT ?")
    return conn.execute(sql, (*group, count)).fetchall()


def _several_words(conn: sqlite3.Connection, words: list[str],
                   matches: list[dict[str, float]], limit: int) -> list[Found]:
    """Patients bearing a match for every word, graded by the mean over the query words of
    their best match, all in SQLite. The candidates are the patients of the rarest words
    (intersected); a word borne by many more ("le", "marie") is only checked on the
    candidates' names instead of intersecting its thousands of patients."""
    sizes = [_bearers(conn, list(match)) for match in matches]
    sets, params = [], []
    for match, size in zip(matches, sizes, strict=True):
        if size <= max(4 * min(sizes), RARE_ENOUGH):
            sets.append(f"SELECT patient_rowid FROM patient_words WHERE word IN ({marks(list(match))})")
            params += list(match)
    grades, grade_params = [], []
    for word, match in zip(words, matches, strict=True):
        expression, values = _grade_sql(word, match)
        grades.append(expression)
        grade_params += values
    columns = ", ".join(f"{g} AS g{i}" for i, g in enumerate(grades))
    inner = (f"SELECT {FIELDS}, {CURRENT_LIST} AS cur, {columns} FROM patients p "
             f"WHERE p.rowid IN ({' INTERSECT '.join(sets)})")
    kept = " AND ".join(f"g{i} >= 0" for i in range(len(grades)))
    total = " + ".join(f"g{i}" for i in range(len(grades)))
    sql = f"SELECT * FROM ({inner}) WHERE {kept} ORDER BY {total} DESC, cur DESC, sort_key LIMIT ?"
    hits = []
    for row in conn.execute(sql, (*grade_params, *params, limit)):
        hit = found(row)
        scores = row[11:]
        hit.score = sum(scores) / len(scores)
        hit.why = "name" if min(scores) >= INFIX else "name (approx.)"
        hits.append(hit)
    return hits


def _grade_sql(word: str, match: dict[str, float]) -> tuple[str, list]:
    """SQL grading a patient's folded name for one query word as the vocabulary did:
    exact, prefix, infix, then the typo-close words by their grades; -1 if none."""
    spaced = "(' ' || p.name_norm || ' ')"
    cases = [f"WHEN instr({spaced}, ?) > 0 THEN {EXACT}", f"WHEN instr({spaced}, ?) > 0 THEN {PREFIX}"]
    params: list = [f" {word} ", f" {word}"]
    if len(word) >= 3:
        cases.append(f"WHEN instr(p.name_norm, ?) > 0 THEN {INFIX}")
        params.append(word)
    close: dict[float, list[str]] = {}
    for other, grade in match.items():
        if grade < INFIX:
            close.setdefault(grade, []).append(other)
    for grade in sorted(close, reverse=True):
        tests = " OR ".join(f"instr({spaced}, ?) > 0" for _ in close[grade])
        cases.append(f"WHEN {tests} THEN {grade}")
        params += [f" {other} " for other in close[grade]]
    return f"(CASE {' '.join(cases)} ELSE -1 END)", params


def _bearers(conn: sqlite3.Connection, words: list[str]) -> int:
    """How many (patient, word) pairs the words have: a bound on their patients."""
    sql = f"SELECT coalesce(sum(n), 0) FROM words WHERE word IN ({marks(words)})"
    return conn.execute(sql, words).fetchone()[0]


def _by_family_prefix(conn: sqlite3.Connection, prefix: str, limit: int) -> list[Found]:
    """One or two letters: family names starting with them (the sort key leads with the
    folded family), current patients first, read off the sort key's index."""
    high = prefix + "{"  # "{" follows every folded character
    # admitted: from the few current stays ("+" keeps SQLite from walking the key range,
    # which for "le" holds thousands of patients)
    admitted = (f"SELECT {FIELDS}, 1 FROM stays s JOIN patients p ON p.id = s.patient "
                "WHERE s.current = 1 AND +p.sort_key >= ? AND +p.sort_key < ?")
    others = (f"SELECT {FIELDS}, 0 FROM patients p WHERE p.sort_key >= ? AND p.sort_key < ? "
              "ORDER BY p.sort_key LIMIT ?")
    rows = conn.execute(admitted, (prefix, high)).fetchall()
    current = {row[ROWID] for row in rows}
    rows += [r for r in conn.execute(others, (prefix, high, limit + len(current)))
             if r[ROWID] not in current]
    hits = []
    for row in map(found, rows):
        row.score, row.why = PREFIX, "name"
        hits.append(row)
    return hits
