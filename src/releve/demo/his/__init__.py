"""The demo HIS: a small FHIR R4 server backed by SQLite, standing in for the hospital's
information system (`releve demo his`). A demo and test fixture, not a product.

    server.py     the routes (Starlette) and `serve`, which loads and runs it
    store.py      every version of every resource in SQLite
    pages.py      one page of a search or history walk, exact while writes go on
    writes.py     the write routes: create, update, delete, Bundles
    write_faults.py  their faults on demand (`--write-faults`), for tests of the way back
    fhir.py       what the server needs to know of FHIR R4: types, ids, instants, errors
    bundle.py     transaction and batch Bundles, and the single writes that go their way
    conditional.py  conditional create and update: which resource a write is about
    search_params.py  the search parameters (_id, identifier, Patient traits) as SQL
    search_index.py   their index, written with each version
    bulk.py       Bulk Data `$export`
    bulk_faults.py  its faults on demand (`--bulk-fault`): error files, 500s, 429, slow jobs
    load.py       filling the store: FHIR files, or the generated hospital
    activity.py   `--activity`: admissions, transfers, orders, results, as a hospital changes
    hl7_feed.py   the demo's HL7 v2 feed: another establishment's messages sent over MLLP
    hl7_messages.py  ADT (IHE PAM France) and ORU^R01 messages written from FHIR data
    hl7_segments.py  their segments (MSH, PID, PV1, ZBE) and values
"""
