"""`releve capture hl7-replay`: map the HL7 v2 feeds again from the raw messages the vault
keeps (capture/hl7/replay.py), after a better mapping or the loss of the capture host.

A command beside `capture hl7`, not under it: `capture hl7` is a command with required
options (--listen...), and Typer cannot make it a group too without making every one of
them optional to the subcommands' parser.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from .capture_hl7 import time_zone
from .console import clear_errors, out
from .writing import described, open_writer

if TYPE_CHECKING:
    from ..capture.hl7.replay import Summary

SHOWN = 20  # deleted keys listed by a dry run (ids only: no patient data)


def capture_hl7_replay(
    vault: str = typer.Option(..., help="Vault folder or s3://BUCKET/PREFIX (read with "
                                        "--identity, as `releve vault cat`)"),
    identity: Path = typer.Option(..., help="Station identity (age), to read the vault"),
    signing_key: Path = typer.Option(..., help="Signer's minisign secret key"),
    state: Path = typer.Option(..., help="The HL7 capture's state folder (its writer state "
                                          "must match the vault)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be done; write "
                                                          "nothing"),
    timezone: str = typer.Option("Europe/Paris", help="Time zone of the times the messages "
                                                      "give without an offset"),
) -> None:
    """Map every HL7 v2 message the vault keeps again, into one segment: resources that
    changed are written, those the mapping no longer produces deleted. The listener must
    be stopped; STATE/hl7/ is set aside (renamed) and made again from the vault."""
    from ..capture.hl7 import replay
    from ..capture.hl7.log import in_use
    from ..vault import keys as vault_keys
    from ..vault.source import open_walked

    zone = time_zone(timezone)
    with clear_errors():
        opened = open_walked(vault)
        identities = vault_keys.load_identities(identity)
        if dry_run:
            show(replay.dry_run(opened, identities, zone), dry=True)
            if in_use(state):
                out.print("a `releve capture hl7` runs with this --state: the replay itself "
                          "will refuse until it is stopped", highlight=False)
            return
        writer = open_writer(vault, None, signing_key, state)
        try:
            show(replay.replay(opened, identities, writer, state, zone), dry=False)
        finally:
            writer.close()


def show(done: Summary, dry: bool) -> None:
    """The summary: counts, the segment, and where the old log went."""
    would = "would be " if dry else ""
    quarantined = f" ({done.quarantined} refused by today's reader: quarantined)" \
        if done.quarantined else ""
    out.print(f"{done.messages} HL7 v2 messages replayed from the vault{quarantined}",
              highlight=False)
    if done.failed:
        out.print(f"{done.failed} patient groups could not be mapped: they keep what they "
                  "produced, and no resource is deleted", highlight=False)
    out.print(f"{done.produced} resources mapped, {done.changed} {would}changed, "
              f"{len(done.deleted)} {would}deleted", highlight=False)
    if dry:
        for key in done.deleted[:SHOWN]:
            out.print(f"  would delete {key}", highlight=False)
        if len(done.deleted) > SHOWN:
            out.print(f"  ... and {len(done.deleted) - SHOWN} more", highlight=False)
        out.print("dry run: nothing written", highlight=False)
        return
    if done.set_aside is not None:
        out.print(f"the previous message log set aside in {done.set_aside}", highlight=False)
    out.print(described(done.written) if done.written else "nothing changed: no segment written",
              highlight=False)
