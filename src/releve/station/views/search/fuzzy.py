"""How close a typed word is to a name word: a bounded Damerau-Levenshtein distance, its
grade below INFIX, and the grading of a whole name against the query's words (for the
few patients a birth date designates)."""

from __future__ import annotations

from .hits import EXACT, INFIX, PREFIX, Found


class Grader:
    """Grades a patient's folded name against the query words, remembering distances
    (the same name words recur across thousands of patients)."""

    def __init__(self, words: list[str]):
        self.words = words
        self.memo: dict[tuple[str, str], float | None] = {}

    def grade(self, row: Found) -> bool:
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
            self.memo[key] = approx_score(word, name)
        return self.memo[key]


def allowed_edits(a: str, b: str) -> int:
    """About one edit per four letters of the longer word; none under four letters."""
    if min(len(a), len(b)) < 4:
        return 0
    return min(3, max(len(a), len(b)) // 4)


def approx_score(word: str, name: str) -> float | None:
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
