"""What a bulk cycle tells whoever watches it while the export runs: the HIS may take an
hour to prepare the files, and then the files may be gigabytes.

`ExportWatch` says it all as lines (`say`): what a log keeps, and what a capture without
a terminal prints: the export's X-Progress each time it changes, its waits, and one line
once the files are in. A capture run by hand on a terminal shows the same in place
instead (cli/capture_display.py): the X-Progress and the download on a progress line.
"""

from __future__ import annotations

from collections.abc import Callable


class ExportWatch:
    def __init__(self, say: Callable[[str], None] | None = None):
        self.say = say or (lambda text: None)
        self.files = 0
        self.size = 0

    def line(self, text: str) -> None:
        """Something said once (a resumed job, a wait)."""
        self.say(text)

    def progress(self, text: str) -> None:
        """The export's X-Progress, when it changed."""
        self.say(f"export: {text}")

    def downloading(self, files: int) -> None:
        """The manifest is in: `files` files to download."""
        self.files, self.size = files, 0

    def downloaded(self, size: int) -> None:
        """One more file is in, of `size` bytes."""
        self.size += size

    def fetched(self) -> None:
        """Every file is in."""
        self.say(f"export: {self.files} files downloaded, {self.size} bytes")

    def close(self) -> None:
        """The cycle is over, however it ended."""


Notify = Callable[[str], None] | ExportWatch  # a plain `say` is watched as lines


def watching(notify: Notify | None) -> ExportWatch:
    return notify if isinstance(notify, ExportWatch) else ExportWatch(notify)
