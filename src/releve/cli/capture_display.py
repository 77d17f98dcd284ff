"""A bulk export watched on a terminal (`releve capture --once` run by hand): the
export's X-Progress and then its download on one progress line kept in place, rather
than a line each time the server's progress text changes. Lines said meanwhile (a wait,
a resumed job) print above it. Without a terminal, capture/export_watch.py's lines."""

from __future__ import annotations

from collections.abc import Callable

from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from ..capture.export_watch import ExportWatch
from .console import err


class ExportDisplay(ExportWatch):
    def __init__(self, say: Callable[[str], None]):
        super().__init__(say)
        self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                            TextColumn("{task.fields[files]}"), TimeElapsedColumn(),
                            console=err, transient=True)
        self.task: TaskID | None = None

    def progress(self, text: str) -> None:
        self._show(f"export: {escape(text)}", total=None)

    def downloading(self, files: int) -> None:
        super().downloading(files)
        self._show("export: downloading the files", total=files, files=f"0/{files}")

    def downloaded(self, size: int) -> None:
        super().downloaded(size)
        if self.task is not None:
            done = self.bar.tasks[-1].completed + 1
            self.bar.update(self.task, completed=done, files=f"{done:.0f}/{self.files}",
                            description=f"export: downloading, {self.size / 1e6:.1f} MB")

    def fetched(self) -> None:
        self.close()
        super().fetched()

    def close(self) -> None:
        if self.task is not None:
            self.bar.stop()
            self.bar.remove_task(self.task)
            self.task = None

    def _show(self, description: str, total: int | None, files: str = "") -> None:
        """The line, started if need be: `files` is empty while the server prepares them."""
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task(description, total=total, files=files)
        else:
            self.bar.reset(self.task, total=total, description=description, files=files)
