"""The downtime station: pulls the vault, keeps an index of it, shows it on screen and paper.

    folder.py    the station folder's layout: every path is asked of it
    sync.py      pulling, verifying and applying the vault's segments (records/ parses)
    index/       the index: its schema, generations, connections and writes
    views/       the read layer: every query pages and printouts make, as plain data
    local/       the station's own database: accounts, sessions, the audit log
    i18n/        the English catalogues and the translator both front ends use
    templates/   web/, print/ and the shared/ macros both front ends import
    web/         the pages (Starlette)
    printing/    the printouts (WeasyPrint); imports nothing from web/
"""
