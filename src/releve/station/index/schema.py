"""The index's tables, their keys and indexes, and the format they make.

Tables (docs/station.md is the normative description):
  meta(key, value)        the chain head and state the generation holds
  segments                every segment the station accounted for, applied or not, and why
  records                 every current resource by (type, id), with the patient it
                          belongs to, its lastUpdated, and where its line is in the
                          record file (pos, len)
  resources (temp view)   the same with the line's bytes as `json`, in every connection
  patients                identity columns, the folded name words and the sort key
  words, word_grams,      the name-word index patient search stands on (words.py)
  patient_words
  patient_ids             the patients' identifiers, for search and matching (identities.py)
  contained_subjects      resources whose patient is a Patient they contain (identities.py)
  security_contexts       Binaries whose securityContext names a resource (contexts.py)
  locations               the tree of sites, units, rooms and beds
  stays                   encounters, with their current bed or unit and attending
  bookings                appointments (the OR schedule) by local day
"""

from __future__ import annotations

from . import contexts, identities, words

FORMAT = "5"  # 2: the name-word index replaced the trigram index of whole names; 3: the
# record lines moved out of the database into the generation's record file; 4: patients'
# identifiers (patients.identifiers, patient_ids) and contained-Patient subjects; 5:
# Binaries filed under their patient by their securityContext (security_contexts)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segments(
  seq INTEGER PRIMARY KEY, sha256 TEXT NOT NULL, kind TEXT NOT NULL, time TEXT NOT NULL,
  source TEXT NOT NULL, puts INTEGER NOT NULL, deletes INTEGER NOT NULL,
  outcome TEXT NOT NULL, reason TEXT, accounted TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records(
  type TEXT NOT NULL, id TEXT NOT NULL, patient TEXT, updated TEXT, pos INTEGER NOT NULL,
  len INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS patients(
  id TEXT NOT NULL, family TEXT, given TEXT, name_norm TEXT NOT NULL, birth_date TEXT,
  gender TEXT, ipp TEXT, ins TEXT, active INTEGER NOT NULL, deceased INTEGER NOT NULL,
  sort_key TEXT NOT NULL, identifiers TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS locations(
  id TEXT NOT NULL, name TEXT, physical_type TEXT, part_of TEXT, status TEXT,
  operational TEXT, phone TEXT);
CREATE TABLE IF NOT EXISTS stays(
  encounter TEXT NOT NULL, patient TEXT, status TEXT, class TEXT, start TEXT, end TEXT,
  location TEXT, attending TEXT, current INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS bookings(
  appointment TEXT NOT NULL, day TEXT, start TEXT, end TEXT, patient TEXT, location TEXT,
  status TEXT);
""" + words.SCHEMA + identities.SCHEMA + contexts.SCHEMA

# the keys exist from the start: a later record replaces an earlier one (INSERT OR
# REPLACE), so a generation build needs no deduplication pass over the loaded table, and
# a full segment, written in type and id order, appends to these B-trees
KEYS = """
CREATE UNIQUE INDEX IF NOT EXISTS records_key ON records(type, id);
CREATE UNIQUE INDEX IF NOT EXISTS patients_id ON patients(id);
CREATE UNIQUE INDEX IF NOT EXISTS locations_id ON locations(id);
CREATE UNIQUE INDEX IF NOT EXISTS stays_encounter ON stays(encounter);
CREATE UNIQUE INDEX IF NOT EXISTS bookings_appointment ON bookings(appointment);
""" + identities.KEYS + contexts.KEYS

# created after a bulk load (a generation build), or at once for an empty one
INDEXES = """
CREATE INDEX IF NOT EXISTS records_patient ON records(patient, type) WHERE patient IS NOT NULL;
CREATE INDEX IF NOT EXISTS patients_ipp ON patients(ipp) WHERE ipp IS NOT NULL;
CREATE INDEX IF NOT EXISTS patients_ins ON patients(ins) WHERE ins IS NOT NULL;
CREATE INDEX IF NOT EXISTS patients_birth ON patients(birth_date);
CREATE INDEX IF NOT EXISTS patients_sort_key ON patients(sort_key);
CREATE INDEX IF NOT EXISTS locations_part_of ON locations(part_of);
CREATE INDEX IF NOT EXISTS stays_location ON stays(location) WHERE current = 1;
CREATE INDEX IF NOT EXISTS stays_patient ON stays(patient);
CREATE INDEX IF NOT EXISTS stays_current ON stays(patient) WHERE current = 1;
CREATE INDEX IF NOT EXISTS bookings_day ON bookings(day, start);
""" + identities.INDEXES
