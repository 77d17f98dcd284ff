"""Patient search on the station: one text box, as a nurse types under stress.

The query may be a name (any case, accents or not, words in any order, a prefix, a typo),
a birth date (alone or with a name), an IPP, an INS (spaces allowed), or a bed or room.
Ranking: identifier matches first, then beds, then birth dates, then names (exact word
above prefix above approximate); at equal match, patients currently admitted come first,
then alphabetical order.

Why it is built this way (100,000 patients, p95 under 20 ms on an old PC):
- names are looked up through the name-word index (words.py): the query's words are
  first resolved against the few tens of thousands of *distinct* name words (exact, prefix
  by a key range, infix by a trigram index of the words, typos by a bounded
  Damerau-Levenshtein over trigram candidates), and only then are patients read;
- a name word's patients are keyed by the result order (admitted first, then family,
  given names, id), so the first page of a common name or prefix ("martin", "mar") is
  read straight off the key instead of sorting thousands of patients;
- several words: the patients bearing a match for each of them, intersected in SQLite;
- typos are looked for only when no name matched exactly or by prefix;
- every piece of user text reaches SQLite as a bound parameter; FTS5 phrases are built
  from folded words only, whose alphabet is [0-9a-z], so no FTS5 syntax can get through.
"""

from __future__ import annotations

import datetime as dt
import heapq
import re
import sqlite3
from dataclasses import dataclass

from ..index import words as words_table
from ..text import fold

IDENTIFIER, BED, BED_ROOM, BIRTH_DATE = 100.0, 90.0, 85.0, 50.0
EXACT, PREFIX, INFIX = 4.0, 2.0, 1.0  # per query word; a name's score is their mean
APPROX_CANDIDATES = 300  # distinct words graded by edit distance, at most (most similar first)
SHORT_TYPO = 6  # query words this short also meet, as typo candidates, words of their initial
RARE_ENOUGH = 2000  # patients of a query word intersected in SQLite, at least
MERGED_WORDS = 64  # up to this many matched words, each word's first patients are read apart
BED_NUMBER = 5  # longest number that may name a bed or room ("201"), not an IPP
# Whether a patient is admitted now: one list of current stays for many rows, or one
# index probe per row when the rows are few.
CURRENT_LIST = "p.id IN (SELECT patient FROM stays WHERE current = 1)"
CURRENT_PROBE = "EXISTS (SELECT 1 FROM stays s WHERE s.patient = p.id AND s.current = 1)"
FIELDS = ("p.rowid, p.id, p.family, p.given, p.birth_date, p.gender, p.ipp, p.ins, p.name_norm, "
          "p.sort_key")
_Fields = tuple[int, str, str | None, str | None, str | None, str | None, str | None, str | None,
                str, str]  # a row of FIELDS, in _Found's order
_Row = tuple[int, str, str | None, str | None, str | None, str | None, str | None, str | None,
             str, str, int]  # FIELDS, then whether the patient is admitted now


@dataclass
class Hit:
    id: str  # Patient id
    family: str | None
    given: str | None
    birth_date: str | None
    gender: str | None
    ipp: str | None
    ins: str | None
    location: str | None  # Location of the current stay's bed or unit, if any
    location_name: str | None  # "Lit 201 fenêtre · Pneumologie"
    score: float
    why: str  # "name", "name (approx.)", "ipp", "ins", "birth date", "bed"


@dataclass
class _Found:
    """A patient row and how well it matched, before its location is looked up."""

    rowid: int
    id: str
    family: str | None
    given: str | None
    birth_date: str | None
    gender: str | None
    ipp: str | None
    ins: str | None
    name_norm: str
    sort_key: str  # folded family, given names and id (records.sort_key)
    current: bool
    score: float = 0.0
    why: str = ""

    def key(self) -> tuple:
        return (-self.score, not self.current, self.sort_key)


def _best(hits: list[_Found], count: int) -> list[_Found]:
    return heapq.nsmallest(count, hits, key=_Found.key)


def _found(row: _Row, score: float = 0.0, why: str = "") -> _Found:
    return _Found(*row[:10], current=bool(row[10]), score=score, why=why)


# --- reading the query ------------------------------------------------------------------------


@dataclass
class Query:
    raw: str  # the text as typed, trimmed
    words: list[str]  # folded words that are not plain numbers (names, "lit", "kris249")
    numbers: list[str]  # plain numbers outside dates (beds, rooms, IPP pieces)
    dates: list[str]  # ISO birth dates found in the text


_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_DMY = re.compile(r"(?<!\d)(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})(?!\d)")
_COMPACT = re.compile(r"(?<!\d)(\d{2})(\d{2})(\d{4})(?!\d)")


def _date(year: str, month: str, day: str) -> str | None:
    try:
        value = dt.date(int(year), int(month), int(day))
    except ValueError:
        return None
    return value.isoformat() if 1850 <= value.year <= 2100 else None


def parse(text: str) -> Query:
    """Split the box's text into dates, numbers and words; dates go first because their
    separators would otherwise split them into numbers."""
    raw = text.strip()
    rest, dates = raw, []
    for pattern, order in ((_ISO, (0, 1, 2)), (_DMY, (2, 1, 0))):
        for match in pattern.finditer(rest):
            groups = match.groups()
            if found := _date(*(groups[i] for i in order)):
                dates.append(found)
        rest = pattern.sub(" ", rest)
    words: list[str] = []
    numbers: list[str] = []
    for word in fold(rest).split():
        (numbers if word.isdigit() else words).append(word)
    for number in numbers:  # ddmmyyyy: kept as a number too, it may be an IPP
        if len(number) == 8 and (found := _date(number[4:], number[2:4], number[:2])):
            dates.append(found)
    return Query(raw, words, numbers, list(dict.fromkeys(dates)))


# --- the search -------------------------------------------------------------------------------


def search(conn: sqlite3.Connection, query: str, limit: int = 30) -> list[Hit]:
    """The patients the box's text designates, best first, at most `limit`."""
    q = parse(query)
    if not q.raw or limit <= 0 or not (q.words or q.numbers or q.dates):
        return []
    found: dict[int, _Found] = {}
    for hit in _by_identifier(conn, q):
        _keep(found, hit)
    if q.numbers and not q.dates and not found:
        for hit in _by_bed(conn, q):
            _keep(found, hit)
    if q.dates:
        for hit in _by_birth_date(conn, q):
            _keep(found, hit)
    elif q.words and not q.numbers:
        for hit in _by_name(conn, q.words, limit):
            _keep(found, hit)
    best = _best(list(found.values()), limit)
    places = _places(conn, [f.id for f in best if f.current])
    return [_hit(f, *places.get(f.id, (None, None))) for f in best]


def _keep(found: dict[int, _Found], hit: _Found) -> None:
    """A patient found twice (an IPP that is also a date) keeps its best reason."""
    known = found.get(hit.rowid)
    if known is None or hit.score > known.score:
        found[hit.rowid] = hit


def _hit(f: _Found, location: str | None, location_name: str | None) -> Hit:
    return Hit(f.id, f.family, f.given, f.birth_date, f.gender, f.ipp, f.ins, location,
               location_name, f.score, f.why)


def _rows(conn: sqlite3.Connection, where: str, params: tuple) -> list[_Row]:
    """The few patients an indexed condition designates (an IPP, a birth date, beds)."""
    sql = f"SELECT {FIELDS}, {CURRENT_PROBE} FROM patients p WHERE {where}"
    return conn.execute(sql, params).fetchall()


# --- identifiers, dates, beds -------------------------------------------------------------------


def _by_identifier(conn: sqlite3.Connection, q: Query) -> list[_Found]:
    """IPP as typed or without its spaces; INS as 15 digits, however they were spaced."""
    compact = re.sub(r"\s+", "", q.raw)
    if len(compact) < 3 or not any(c.isdigit() for c in compact):
        return []
    forms = tuple(dict.fromkeys((q.raw, compact)))
    marks = ",".join("?" * len(forms))
    hits = [_found(r, IDENTIFIER, "ipp") for r in _rows(conn, f"p.ipp IN ({marks})", forms)]
    digits = "".join(q.numbers) if not q.words else ""
    ins_forms = tuple(dict.fromkeys(f for f in (*forms, digits) if f))
    marks = ",".join("?" * len(ins_forms))
    hits += [_found(r, IDENTIFIER, "ins") for r in _rows(conn, f"p.ins IN ({marks})", ins_forms)]
    return hits


def _by_birth_date(conn: sqlite3.Connection, q: Query) -> list[_Found]:
    """Everyone born that day; with name words, only those whose name matches them too
    (a wrong patient is worse than none: identity vigilance)."""
    marks = ",".join("?" * len(q.dates))
    rows = [_found(r) for r in _rows(conn, f"p.birth_date IN ({marks})", tuple(q.dates))]
    if not q.words:
        for row in rows:
            row.score, row.why = BIRTH_DATE, "birth date"
        return rows
    grader = _Grader(q.words)
    return [row for row in rows if grader.grade(row)]


def _by_bed(conn: sqlite3.Connection, q: Query) -> list[_Found]:
    """Current stays whose bed, room or unit names hold every number as a whole word and
    every other word as a prefix: "201", "lit 201", "chambre 201", "box 3"."""
    numbers = [n for n in q.numbers if len(n) <= BED_NUMBER]
    if len(numbers) != len(q.numbers) or len(numbers) > 2:
        return []
    matched: dict[str, float] = {}
    for patient, _, names, _ in _current_places(conn, numbers=numbers):
        own = fold(names[0] or "").split()
        chain = fold(" ".join(n for n in names if n)).split()
        if all(n in chain for n in q.numbers) and all(
                any(c.startswith(w) for c in chain) for w in q.words):
            score = BED if all(n in own for n in q.numbers) else BED_ROOM
            matched[patient] = max(score, matched.get(patient, 0.0))
    if not matched:
        return []
    ids = tuple(matched)
    rows = _rows(conn, f"p.id IN ({','.join('?' * len(ids))})", ids)
    return [_found(r, matched[r[1]], "bed") for r in rows]


_PLACES = """
SELECT s.patient, s.location, l.name, l.physical_type, r.name, r.physical_type, u.name,
       u.physical_type
FROM stays s
LEFT JOIN locations l ON l.id = s.location
LEFT JOIN locations r ON r.id = l.part_of
LEFT JOIN locations u ON u.id = r.part_of
WHERE s.current = 1 AND s.location IS NOT NULL {extra}
ORDER BY s.start DESC
"""


def _current_places(conn: sqlite3.Connection, patients: list[str] | None = None,
                    numbers: list[str] | None = None
                    ) -> list[tuple[str, str, list[str | None], list[str | None]]]:
    """(patient, location, [its name, its parent's, its grandparent's], [their physical
    types]) for current stays, most recent first: of the given patients, or of the places
    whose names hold the given numbers (a cheap filter in SQL; words are checked after)."""
    extra = ""
    params: tuple[str, ...] = ()
    if patients is not None:
        extra = f"AND s.patient IN ({','.join('?' * len(patients))})"
        params = tuple(patients)
    for number in numbers or ():
        extra += (" AND instr(coalesce(l.name, '') || ' ' || coalesce(r.name, '') || ' ' "
                  "|| coalesce(u.name, ''), ?) > 0")
        params += (number,)
    return [(row[0], row[1], [row[2], row[4], row[6]], [row[3], row[5], row[7]])
            for row in conn.execute(_PLACES.format(extra=extra), params)]


def _places(conn: sqlite3.Connection, patients: list[str]) -> dict[str, tuple[str, str | None]]:
    """Location id and label ("Lit 201 fenêtre · Pneumologie") of each patient's stay."""
    if not patients:
        return {}
    places: dict[str, tuple[str, str | None]] = {}
    for patient, location, names, kinds in _current_places(conn, patients):
        if patient not in places:
            places[patient] = (location, _label(names, kinds))
    return places


def _label(names: list[str | None], kinds: list[str | None]) -> str | None:
    """The place's own name, then its unit's (a bed's unit is its grandparent, a room's its
    parent); a unit stands alone."""
    if names[0] is None:
        return None
    if kinds[0] in ("wa", "si"):
        return names[0]
    for name, kind in zip(names[1:], kinds[1:], strict=True):
        if kind == "wa" and name:
            return f"{names[0]} · {name}"
    parent = next((n for n in names[1:] if n), None)
    return f"{names[0]} · {parent}" if parent else names[0]


# --- names ----------------------------------------------------------------------------------------


def _by_name(conn: sqlite3.Connection, words: list[str], limit: int) -> list[_Found]:
    """Exact, prefix and infix matches of every word; typos only if no patient matched
    exactly or by prefix (they would rank below them anyway)."""
    if not any(len(w) >= 3 for w in words):
        return _by_family_prefix(conn, " ".join(words), limit)
    vocabulary = _Vocabulary(conn)
    matches = [vocabulary.plain(w) for w in words]
    hits = _patients_matching(conn, words, matches, limit)
    if not any(h.score >= PREFIX for h in hits):
        for word, match in zip(words, matches, strict=True):
            for other, score in vocabulary.approx(word).items():
                match.setdefault(other, score)
        hits = _patients_matching(conn, words, matches, limit)
    return hits


class _Vocabulary:
    """The distinct name words a query word designates, each with its grade."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.memo: dict[str, dict[str, float]] = {}

    def plain(self, word: str) -> dict[str, float]:
        """The word itself, the words it starts, and (3 letters or more) the words it is
        inside of."""
        high = word + "{"  # "{" follows "z": the range holds every word starting with `word`
        found = {w: EXACT if w == word else PREFIX for (w,) in self.conn.execute(
            "SELECT word FROM words WHERE word >= ? AND word < ?", (word, high))}
        if len(word) >= 3:
            for (other,) in self.conn.execute(
                    "SELECT word FROM word_grams WHERE word_grams MATCH ?", (f'"{word}"',)):
                found.setdefault(other, INFIX)
        return found

    def approx(self, word: str) -> dict[str, float]:
        """Words within a few edits of the query word, among those sharing pieces of it,
        the most trigrams in common first (counted by SQLite, cheaply)."""
        if len(word) < 4:
            return {}
        grams = _trigrams(word)
        similar = " + ".join("(instr(word, ?) > 0)" for _ in grams)
        sql = (f"SELECT word, {similar} AS similar FROM word_grams WHERE word_grams MATCH ? "
               "ORDER BY similar DESC LIMIT ?")
        match = f"({_pairs(word)}) OR ({_pieces(word)})"
        candidates = [w for w, _ in self.conn.execute(sql, (*grams, match, APPROX_CANDIDATES))]
        if len(word) <= SHORT_TYPO:  # one edit can leave a short word no trigram in common
            edits = allowed_edits(word, word + "x")
            candidates += [w for (w,) in self.conn.execute(
                "SELECT word FROM words WHERE word >= ? AND word < ? AND length(word) "
                "BETWEEN ? AND ? LIMIT ?", (word[0], word[0] + "{", len(word) - edits,
                                           len(word) + edits, APPROX_CANDIDATES))]
        found = {}
        for other in candidates:
            if (score := _approx_score(word, other)) is not None:
                found[other] = score
        return found


def _patients_matching(conn: sqlite3.Connection, words: list[str],
                       matches: list[dict[str, float]], limit: int) -> list[_Found]:
    """The best `limit` patients bearing, for every query word, one of its matched words."""
    if not all(matches):
        return []
    if len(matches) == 1:
        return _one_word(conn, matches[0], limit)
    return _several_words(conn, words, matches, limit)


def _one_word(conn: sqlite3.Connection, match: dict[str, float], limit: int) -> list[_Found]:
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
    rows = {r[0]: r for r in _rows_by_rowid(conn, list(chosen))}
    hits = []
    for rowid, (grade, admitted) in chosen.items():
        row = rows[rowid]
        hits.append(_Found(*row[:10], current=admitted, score=grade,
                           why="name" if grade >= INFIX else "name (approx.)"))
    return hits


def _marks(values: list) -> str:
    return ",".join("?" * len(values))


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
    sql = (f"SELECT patient_rowid, rank FROM patient_words WHERE word IN ({_marks(group)}) "
           f"GROUP BY patient_rowid ORDER BY rank, sort_key LIMIT ?")
    return conn.execute(sql, (*group, count)).fetchall()


def _rows_by_rowid(conn: sqlite3.Connection, rowids: list[int]) -> list[_Fields]:
    if not rowids:
        return []
    return conn.execute(f"SELECT {FIELDS} FROM patients p WHERE p.rowid IN ({_marks(rowids)})",
                        rowids).fetchall()


def _several_words(conn: sqlite3.Connection, words: list[str],
                   matches: list[dict[str, float]], limit: int) -> list[_Found]:
    """Patients bearing a match for every word, graded by the mean over the query words of
    their best match, all in SQLite. The candidates are the patients of the rarest words
    (intersected); a word borne by many more ("le", "marie") is only checked on the
    candidates' names instead of intersecting its thousands of patients."""
    sizes = [_bearers(conn, list(match)) for match in matches]
    sets, params = [], []
    for match, size in zip(matches, sizes, strict=True):
        if size <= max(4 * min(sizes), RARE_ENOUGH):
            sets.append(f"SELECT patient_rowid FROM patient_words WHERE word IN ({_marks(list(match))})")
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
        found = _found(row)
        scores = row[11:]
        found.score = sum(scores) / len(scores)
        found.why = "name" if min(scores) >= INFIX else "name (approx.)"
        hits.append(found)
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
    sql = f"SELECT coalesce(sum(n), 0) FROM words WHERE word IN ({_marks(words)})"
    return conn.execute(sql, words).fetchone()[0]


def _trigrams(word: str) -> list[str]:
    return list(dict.fromkeys(word[i:i + 3] for i in range(len(word) - 2)))


def _pairs(word: str) -> str:
    """FTS5 expression: words sharing with the word its first two trigrams, its last two,
    or its first and last: selective, and one edit leaves one of these pairs whole unless
    it falls in the first or last three letters of a short word."""
    grams = _trigrams(word)
    if len(grams) < 3:
        return " OR ".join(f'"{g}"' for g in grams)
    pairs = dict.fromkeys(((grams[0], grams[1]), (grams[-2], grams[-1]), (grams[0], grams[-1])))
    return " OR ".join(f'("{a}" AND "{b}")' for a, b in pairs)


def _pieces(word: str) -> str:
    """FTS5 expression: words holding one piece of the word (its halves, or the word
    with two neighbours swapped): catches what pairs miss in short words."""
    half = max(3, (len(word) + 1) // 2)
    pieces = [word[:half], word[-half:]]
    if len(word) <= 8:
        pieces += [word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(len(word) - 1)]
    return " OR ".join(f'"{p}"' for p in dict.fromkeys(pieces))


def _by_family_prefix(conn: sqlite3.Connection, prefix: str, limit: int) -> list[_Found]:
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
    current = {row[0] for row in rows}
    rows += [r for r in conn.execute(others, (prefix, high, limit + len(current)))
             if r[0] not in current]
    hits = []
    for row in map(_found, rows):
        row.score, row.why = PREFIX, "name"
        hits.append(row)
    return hits


class _Grader:
    """Grades a patient's folded name against the query words, remembering distances
    (the same name words recur across thousands of patients)."""

    def __init__(self, words: list[str]):
        self.words = words
        self.memo: dict[tuple[str, str], float | None] = {}

    def grade(self, row: _Found) -> bool:
        """Set row.score and row.why; False if some query word matches no name word."""
        names = row.name_norm.split()
        total, approx = 0.0, False
        for word in self.words:
            score = self._word(word, names)
            if score is None:
                return False
            approx = approx or score < INFIX
            total += score
        row.score = total / len(self.words)
        row.why = "name (approx.)" if approx else "name"
        return True

    def _word(self, word: str, names: list[str]) -> float | None:
        if word in names:
            return EXACT
        if any(n.startswith(word) for n in names):
            return PREFIX
        if len(word) >= 3 and any(word in n for n in names):
            return INFIX
        scores = [s for n in names if (s := self._approx(word, n)) is not None]
        return max(scores) if scores else None

    def _approx(self, word: str, name: str) -> float | None:
        """Below INFIX, lower with each edit; a typo in the start of a long name counts
        too ("lemia" for "lemaitre")."""
        key = (word, name)
        if key not in self.memo:
            self.memo[key] = _approx_score(word, name)
        return self.memo[key]


def allowed_edits(a: str, b: str) -> int:
    """About one edit per four letters of the longer word; none under four letters."""
    if min(len(a), len(b)) < 4:
        return 0
    return min(3, max(len(a), len(b)) // 4)


def _approx_score(word: str, name: str) -> float | None:
    edits = allowed_edits(word, name)
    distance = bounded_distance(word, name, edits) if edits else None
    if distance is not None:
        return 0.9 - 0.2 * (distance - 1)
    if len(word) >= 5 and len(name) > len(word):
        head = name[:len(word)]
        distance = bounded_distance(word, head, allowed_edits(word, head))
        if distance is not None:
            return 0.8 - 0.2 * distance
    return None


def bounded_distance(a: str, b: str, bound: int) -> int | None:
    """Damerau-Levenshtein distance (optimal string alignment: a transposition is one
    edit) if at most `bound`, else None; stops as soon as a row exceeds the bound."""
    if abs(len(a) - len(b)) > bound:
        return None
    if a == b:
        return 0
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if (i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]):
                value = min(value, previous2[j - 2] + 1)
            current[j] = value
        if min(current) > bound:
            return None
        previous2, previous = previous, current
    return previous[-1] if previous[-1] <= bound else None
