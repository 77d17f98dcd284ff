"""Which files an import reads: nothing given is left out silently.

A folder is walked whole: one that cannot be listed is an error, not an empty folder
(rglob passes over it). A symbolic link named on the command line is followed; one found
while walking a folder is refused by name, to a file or a folder alike: following it
could reach far outside the folder, or loop, and passing over it would drop what it
points to. A dangling link is an error wherever it is. Files of other kinds inside a
folder (README.txt) are passed over and counted by suffix, so that the command can say
so; archives and compressions the import cannot open are likely data, and are refused.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .files import COMPRESSED, InputError, Source, classify

UNREAD = (".zip", ".tar", ".tgz", ".tbz2", ".txz", ".7z", ".rar", ".lz4", ".lz", ".lzma",
          ".br", ".sz", ".z", ".zlib")
KINDS = ".ndjson, .jsonl or .json, optionally .gz, .zst, .bz2 or .xz"


@dataclass
class Found:
    """What an import reads, and how many files of each other suffix it passed over."""

    sources: list[Source] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


def find_inputs(paths: list[Path]) -> Found:
    """Every input file, in a stable order. A path named on the command line is followed
    if it is a symbolic link; folders are walked, files that are not FHIR passed over."""
    found = Found()
    for path in paths:
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            what = "dangling symbolic link (its target does not exist)" if path.is_symlink() \
                else "no such file or directory"
            raise InputError(f"{path}: {what}") from None
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
        if stat.S_ISDIR(mode):
            files: list[Path] = []
            _walk(path, files)
            for child in sorted(files):
                source = classify(child)
                if source is not None:
                    found.sources.append(_readable(source))
                else:
                    found.skipped[_suffix(child)] += 1
        elif stat.S_ISREG(mode):
            source = classify(path)
            if source is None:
                raise InputError(f"{path}: not a FHIR file (expected {KINDS})")
            found.sources.append(_readable(source))
        else:
            raise InputError(f"{path}: not a regular file or folder")
    if not found.sources:
        raise InputError("no FHIR files found in " + ", ".join(str(p) for p in paths))
    return found


def _walk(top: Path, files: list[Path]) -> None:
    """Every regular file under `top`. Unlike rglob, which passes over a folder it cannot
    list, anything that cannot be read or is not a plain file or folder is an error by
    name."""
    folders = [top]
    while folders:
        folder = folders.pop()
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError as exc:
            raise InputError(f"{folder}: cannot read this folder ({exc.strerror or exc})") from None
        for entry in entries:
            path = Path(entry.path)
            if entry.is_symlink():
                target = "" if os.path.exists(path) else " to nothing (dangling)"
                raise InputError(f"{path}: symbolic link{target} inside a folder: links found "
                                 "while walking a folder are not followed; name its target on "
                                 "the command line, or remove the link")
            if entry.is_dir(follow_symlinks=False):
                folders.append(path)
            elif not entry.is_file(follow_symlinks=False):
                raise InputError(f"{path}: not a regular file or folder")
            elif path.name.lower().endswith(UNREAD):
                raise InputError(f"{path}: an archive or compression the import does not "
                                 f"read ({KINDS}): unpack it, or move it out of the folder")
            else:
                files.append(path)


def _readable(source: Source) -> Source:
    """The source, once it is known to open: an unreadable file is refused before anything
    is written, in one line."""
    try:
        os.close(os.open(source.path, os.O_RDONLY | os.O_NONBLOCK))
    except OSError as exc:
        raise InputError(f"{source.path}: cannot read ({exc.strerror or exc})") from None
    return source


def _suffix(path: Path) -> str:
    """How a passed-over file is counted: `.txt`, `.csv.gz`, `(none)`."""
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    if len(suffixes) == 2 and suffixes[1] not in COMPRESSED:
        suffixes = suffixes[1:]
    return "".join(suffixes) or "(none)"
