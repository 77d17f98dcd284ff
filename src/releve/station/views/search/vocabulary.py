"""The distinct name words a query word designates, each with its grade: the word itself,
the words it starts, the words it is inside of, and (asked apart) the words a typo away.

The words table is keyed by word (prefixes are a key range); word_grams is an FTS5
trigram index of the same words (infixes, and the candidates for typos). The FTS5
expressions are built from folded words only, whose alphabet is [0-9a-z].
"""

from __future__ import annotations

import sqlite3

from .fuzzy import allowed_edits, approx_score
from .hits import EXACT, INFIX, PREFIX

APPROX_CANDIDATES = 300  # distinct words graded by edit distance, at most (most similar first)
SHORT_TYPO = 6  # query words this short also meet, as typo candidates, words of their initial


class Vocabulary:
    """The distinct name words a query word designates, each with its grade."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

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
            if (score := approx_score(word, other)) is not None:
                found[other] = score
        return found


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
