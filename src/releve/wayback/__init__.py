"""The way back, after the HIS is restored (docs/way-back.md).

Two commands a hospital's IT team runs before reopening: `releve journal reconcile` files
what the wards recorded during the downtime (the journal) into the restored HIS, each
resource exactly once; `releve verify` compares the restored HIS with the vault's last
good state and says what the restore lost or changed.

The way back reads the journal and the vault and talks to the HIS through `fhir/`; it
writes nothing of them but the journal's record of each entry's fate (journal/fates.py).
"""
