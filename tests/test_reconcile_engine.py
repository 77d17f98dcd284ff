"""`releve journal reconcile` against a FHIR engine this project did not write (Medplum's
router over its in-memory repository, tests/test_capture_engine.py): the tests of
tests/test_reconcile.py, whose `his` fixture this module overrides.

The engine supports transactions, `ifNoneExist` and conditional update, but defines no
`identifier` search on Provenance (R4 gives Provenance no identifier): a Provenance's
conditional create there always creates. A run never re-sends what an earlier run
recorded, so these tests hold all the same; only a kill between sending a Provenance
and recording its answer could file it twice on such a server (docs/way-back.md §1.1).
The refusal test is the demo HIS's alone: the engine takes a resource of any type."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from test_capture_engine import running_engine
from test_reconcile import (  # noqa: F401  (the tests, run here against the engine)
    put,
    test_a_correction_after_reconcile_is_filed_as_an_update,
    test_a_dry_run_sends_nothing_and_records_nothing,
    test_a_matched_downtime_patient_is_not_created_and_refers_to_the_his_patient,
    test_an_undecided_patient_waits_and_the_rest_is_filed,
    test_only_one_patient,
    test_the_journal_is_filed_once_with_his_references_and_its_history,
    vault_resources,
)

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


@pytest.fixture
def his(tmp_path: Path) -> Iterator[str]:
    """The engine, holding what the journal refers to from before the downtime."""
    with running_engine(tmp_path / "engine.log") as base:
        for resource in vault_resources():
            put(base, resource)
        yield base
