"""Devices in use: what a DeviceUseStatement says the patient has (its Device resolved),
then the patient's own Device resources no statement named. Lines (catheters, PICC,
drains, tubes) are marked: a nurse checks them every shift."""

from __future__ import annotations

from ....fhir.clinical.values import (
    as_dict,
    as_list,
    as_text,
    concept_text,
    concept_words,
    effective,
)
from ....fhir.refs import target
from .chart_labels import status_label
from .model import DeviceItem, Summary
from .reader import Reader

IN_USE = ("active", "intended", "on-hold", None)
DEVICE_IN_USE = ("active", None)
LINE_WORDS = ("cathéter", "catheter", "picc", "drain", "redon", "sonde", "voie veineuse",
              "voie centrale", "chambre implantable", "port-a-cath", "midline", "canule",
              "cannula", "tube", "kt ", "cvc", "line")


def device_text(device: dict) -> str:
    """A Device's name: its given name, else its type, else its model."""
    names = [as_text(as_dict(n).get("name")) for n in as_list(device.get("deviceName"))]
    return next((n for n in names if n), "") or concept_text(device.get("type")) \
        or as_text(device.get("modelNumber")) or as_text(device.get("manufacturer"))


def is_line(*texts: str) -> bool:
    words = f" {' '.join(texts).casefold()} "
    return any(w in words for w in LINE_WORDS)


def devices(reader: Reader, summary: Summary) -> None:
    named: set[str] = set()  # every Device a statement names: the statement speaks for it
    in_use: set[str] = set()  # those of a statement in use

    def statement(resource: dict) -> DeviceItem | None:
        found = target(resource.get("device"))
        device = reader.resolve(resource, resource.get("device"), "Device") or {}
        if found:
            named.add(found[1])
        if resource.get("status") not in IN_USE:
            return None
        if found:
            in_use.add(found[1])
        text = device_text(device) or as_text(as_dict(resource.get("device")).get("display")) or "Dispositif"
        kind = concept_words(device.get("type"))
        site = concept_words(resource.get("bodySite"))
        notes = [as_text(as_dict(n).get("text")) for n in as_list(resource.get("note"))]
        status = resource.get("status")
        return DeviceItem(text, "line" if is_line(text, kind) else "",
                          effective(resource, "timingPeriod", "timingDateTime", "recordedOn"), site,
                          status_label(status) if status not in ("active", None) else "",
                          " ".join(n for n in notes if n))

    def device(resource: dict) -> DeviceItem | None:
        if as_text(resource.get("id")) in named or resource.get("status") not in DEVICE_IN_USE:
            return None
        text = device_text(resource) or "Dispositif"
        notes = [as_text(as_dict(n).get("text")) for n in as_list(resource.get("note"))]
        return DeviceItem(text, "line" if is_line(text, concept_words(resource.get("type"))) else "",
                          None, "", "", " ".join(n for n in notes if n))

    found = reader.each("DeviceUseStatement", statement)
    for resource in reader.by_type.get("Device", []):
        if as_text(resource.get("id")) in in_use:
            reader.shown.add(id(resource))
    found += reader.each("Device", device)
    found.sort(key=lambda d: (d.kind != "line", -reader.sort_key(d.since)))
    summary.chart.devices = found
