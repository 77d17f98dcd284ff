"""The station's own local database, `local.sqlite` (folder.local_db), apart from the
index: a sync never touches it and it outlives every index generation.

    accounts.py  local users, passwords and sessions (the hospital's directory is down)
    audit.py     the hash-chained log of who saw, searched and printed what
"""
