"""The demo HIS: a small FHIR R4 server backed by SQLite, standing in for the hospital's
information system (`releve demo his`). A demo and test fixture, not a product.

    server.py     the routes (Starlette) and `serve`, which loads and runs it
    store.py      every version of every resource in SQLite, and exact paging
    fhir.py       what the server needs to know of FHIR R4: types, ids, instants, errors
    bundle.py     transaction and batch Bundles
    bulk.py       Bulk Data `$export`
    bulk_faults.py  its faults on demand (`--bulk-fault`): error files, 500s, 429, slow jobs
    load.py       filling the store: FHIR files, or the generated hospital
    activity.py   `--activity`: admissions, transfers, orders, results, as a hospital changes
"""
