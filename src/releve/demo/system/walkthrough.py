"""`releve demo`, for now: a guided tour of the vault on a handful of demo patients.

It makes keys, a vault, imports a small French sample (a transaction Bundle with
`urn:uuid:` references, as an HIS export would give), shows dedup, then damages a copy
of the vault and shows `verify` naming the broken segment. Everything goes in one folder
so the reader can try the open-format commands it prints.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import orjson
from rich.console import Console

from ...capture.files import discover, import_tasks, total_size
from ...capture.writer import Writer
from ...vault import keys
from ...vault.chain import BrokenSegment
from ...vault.store import LocalVault
from ...vault.verify import verify
from .place import DemoError

PATIENTS = [
    ("Hélène", "Martin", "female", "1948-03-12", "Pénicilline", "urticaire"),
    ("Jean", "Dupont", "male", "1961-07-02", "Iode", "choc anaphylactique"),
    ("Fatima", "Benali", "female", "1979-11-23", None, None),
    ("Lucas", "Moreau", "male", "2015-05-30", "Arachide", "œdème de Quincke"),
]


def sample_bundle(dose: str = "1 g") -> dict:
    """A transaction Bundle of demo patients, allergies and a paracetamol order each."""
    entries = []
    for number, (given, family, sex, born, allergen, reaction) in enumerate(PATIENTS, start=1):
        patient_urn = f"urn:uuid:00000000-0000-4000-8000-{number:012d}"
        entries.append({"fullUrl": patient_urn, "request": {"method": "POST", "url": "Patient"},
                        "resource": {"resourceType": "Patient",
                                     "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1",
                                                     "value": f"IPP{number:06d}"}],
                                     "name": [{"family": family, "given": [given]}],
                                     "gender": sex, "birthDate": born}})
        if allergen:
            entries.append({"fullUrl": f"urn:uuid:00000000-0000-4000-9000-{number:012d}",
                            "request": {"method": "POST", "url": "AllergyIntolerance"},
                            "resource": {"resourceType": "AllergyIntolerance",
                                         "patient": {"reference": patient_urn},
                                         "code": {"text": allergen},
                                         "reaction": [{"manifestation": [{"text": reaction}],
                                                       "severity": "severe"}]}})
        entries.append({"fullUrl": f"urn:uuid:00000000-0000-4000-a000-{number:012d}",
                        "request": {"method": "POST", "url": "MedicationRequest"},
                        "resource": {"resourceType": "MedicationRequest", "status": "active",
                                     "intent": "order", "subject": {"reference": patient_urn},
                                     "medicationCodeableConcept": {"text": "Paracétamol"},
                                     "dosageInstruction": [{"text": f"{dose} IV toutes les 6 h"}]}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def run(directory: Path | None, console: Console) -> None:
    root = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="releve-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise DemoError(f"{root} is not empty; give the demo a new folder with --dir")
    step = _Steps(console)

    step("Clés : une identité de poste (age) et une clé de signature (minisign)")
    identity, recipient = keys.create_station_identity(root / "keys", "poste-urgences")
    signing_key, public_key, _ = keys.create_signer(root / "keys", "capture")
    console.print(f"  poste : {identity} -> {recipient}")
    console.print(f"  signataire : {signing_key}, clé publique {public_key}")

    step("Coffre (vault) : append-only, chiffré pour les postes, signé par la capture")
    vault = LocalVault.init(root / "vault", [recipient], [str(public_key)], checkpoint_interval=3)
    console.print(f"  coffre {vault.config.vault_id} dans {vault.root}")

    writer = Writer(vault, keys.load_signer(signing_key), root / "capture-state")
    export = root / "export"
    export.mkdir()
    try:
        step("Import d'un export du DPI (Bundle transaction, références urn:uuid)")
        _export(export, sample_bundle())
        _import(writer, export, console)

        step("Même import une seconde fois : rien n'a changé, rien n'est écrit")
        _import(writer, export, console)

        step("Une prescription change : seul ce qui a changé est écrit")
        _export(export, sample_bundle(dose="500 mg"))
        _import(writer, export, console)
    finally:
        writer.close()

    step("Vérification sans clé (signatures, numérotation, chaîne de hachage)")
    report = verify(vault)
    console.print(f"  [green]OK[/] {report.segments} segments, chaîne intègre")
    report = verify(vault, keys.load_identities(identity))
    console.print(f"  [green]OK[/] avec l'identité du poste : {report.records} enregistrements relus")

    step("Un rançongiciel modifie un octet d'une copie du coffre")
    damaged = root / "vault-copie-abimee"
    shutil.copytree(vault.root, damaged)
    target = damaged / "segments" / "0000000001.age"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    try:
        verify(LocalVault(damaged))
    except BrokenSegment as exc:
        console.print(f"  [red]détecté[/] : segment {exc.seq} — {exc.reason}")

    step("Formats ouverts : lisibles sans Relève")
    first = vault.segment_path(1)
    console.print(f"  age -d -i {identity} {first} | zstd -d | head -3")
    console.print(f"  minisign -V -p {public_key} -m {first}")
    console.print(f"\nTout est dans {root}.")


def _export(folder: Path, bundle: dict) -> None:
    (folder / "export.json").write_bytes(orjson.dumps(bundle, option=orjson.OPT_INDENT_2))


def _import(writer: Writer, folder: Path, console: Console) -> None:
    sources = discover([folder])
    written = writer.write(lambda: import_tasks(sources), "demo export",
                           size_hint=total_size(sources))
    if written is None:
        console.print("  rien de nouveau : aucun segment écrit")
        return
    console.print(f"  segment {written.seq} : {written.puts} ressources écrites, "
                  f"{written.size} octets chiffrés")
    if written.checkpoint:
        console.print(f"  segment {written.checkpoint.seq} : point de reprise complet "
                      f"({written.checkpoint.puts} ressources)")


class _Steps:
    def __init__(self, console: Console):
        self.console = console
        self.number = 0

    def __call__(self, title: str) -> None:
        self.number += 1
        self.console.print(f"\n[bold]{self.number}. {title}[/]")
