"""The station's read layer: every query pages and printouts make of the index, answered
as plain data (dataclasses, dicts of them) that a web page and a printout both show.

The choice: a view module holds its own SQL, next to the code that turns the rows into
what is shown, rather than the SQL living in index/ and the views calling it. A view's
queries are shaped by what it shows (the census's three reads of raw resources for the
ward's patients, search's key-ordered reads of the name-word index) and are tuned
together with it; split apart, every change of a page would touch two packages. What
stays in index/ is the index's own side: its schema, its generations and connections,
and the writes of a sync (with words.py, the upkeep of the name-word index).

web/ and printing/ hold no SQL: they call these modules (tests/test_station_layers.py
checks it).

    census.py     the wards list and a ward's census (beds, occupants, what to know)
    wards.py      which ward a text (id, name or code) names
    collation.py  French alphabetical order, the one sort key of every list
    directory.py  the phone directory, parsed once per index state
    schedule.py   one day of the OR schedule, room by room
    search/       patient search (names, birth dates, identifiers, beds), one module per
                  kind of finder (search/__init__.py)
    summary/      the patient summary, one module per section, walked in the order of its
                  registry (summary/__init__.py)
    resources.py  one resource by type and id (INS traits, a ward's codes, a document)
    status.py     the index's totals, for `releve station status`
    formats.py    dates, times, ages and numbers as a French ward reads them
    fhirtext.py   names and natural order of places, as pages and printouts write them
"""
