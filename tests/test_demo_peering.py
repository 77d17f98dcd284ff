"""The demo's stations made peers of each other at every start (demo/system/peering.py):
one `peer` token per pair whatever the number of starts, a new address followed, a lost
token replaced and the old one revoked. Real local.sqlite and peers.json files."""

from __future__ import annotations

from pathlib import Path

from releve.demo.system.peering import pair_stations
from releve.journal import peers
from releve.station.local.audit import Audit
from releve.station.local.tokens import Tokens


def start(stations: dict[str, Path], port: int) -> dict[str, str]:
    """What a demo start does to the pair; each station's token for the other."""
    urls = {ward: f"http://127.0.0.1:{port + n}" for n, ward in enumerate(stations)}
    pair_stations(stations, urls)
    for ward, station in stations.items():
        other = next(w for w in stations if w != ward)
        assert [(p.name, p.url) for p in peers.load(station)] == [(other, urls[other])]
        assert [(t.name, t.role) for t in Tokens(stations[other]).list()] == [(f"peer-{ward}", "peer")]
    return {ward: peers.load(station)[0].token for ward, station in stations.items()}


def test_a_start_reuses_the_tokens_and_follows_the_addresses(tmp_path):
    stations = {ward: tmp_path / ward for ward in ("urgences", "cardiologie")}
    for station in stations.values():
        station.mkdir()
    first = start(stations, 8000)
    assert start(stations, 8000) == first
    assert start(stations, 9100) == first  # other ports, same tokens
    for ward, other in (("urgences", "cardiologie"), ("cardiologie", "urgences")):
        holder = Tokens(stations[other]).holder(first[ward])
        assert holder is not None and holder.name == f"peer-{ward}"


def test_a_lost_token_is_replaced_and_the_old_one_revoked(tmp_path):
    stations = {ward: tmp_path / ward for ward in ("urgences", "cardiologie")}
    for station in stations.values():
        station.mkdir()
    first = start(stations, 8000)
    peers.peers_file(stations["urgences"]).unlink()  # urgences lost its copy of the token
    again = start(stations, 8000)
    assert again["urgences"] != first["urgences"] and again["cardiologie"] == first["cardiologie"]
    assert Tokens(stations["cardiologie"]).holder(first["urgences"]) is None
    actions = [e.action for e in Audit(stations["cardiologie"]).entries()]
    assert actions.count("token-add") == 2 and actions.count("token-remove") == 1
