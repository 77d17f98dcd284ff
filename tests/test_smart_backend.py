"""SMART Backend Services over real HTTP on loopback: `releve keys client` makes the key
pair, the demo HIS's authorization server checks the client assertion and issues tokens
that expire within seconds, and capture obtains and renews them in every mode."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import orjson
import pytest

from releve.demo.his.load import load_files
from releve.demo.his.server import create_app
from releve.demo.his.smart import Authority
from releve.demo.his.store import Store
from releve.fhir.client import Auth, FhirClient
from releve.fhir.smart import ASSERTION_TYPE, BackendAuth, SmartError, load_client_key
from test_capture import vault_state

from conftest import run_releve
from helpers import serving

CLIENT = "releve-capture"


def make_client_key(folder: Path, alg: str = "ES384", name: str = CLIENT) -> tuple[Path, dict]:
    """`releve keys client NAME`: its private key file and the JWKS it printed."""
    result = run_releve("keys", "client", name, "--alg", alg, "--out", folder)
    return folder / f"{name}.pem", orjson.loads(result.stdout)


def slow(app, seconds: float, refused: list[str]):
    """`app` answering each FHIR request `seconds` late, as a busy HIS does (a capture
    then outlives the tokens it is given); the paths it refused with 401 go to `refused`.
    The token is checked as the request arrives, the delay comes after."""
    async def delayed(scope, receive, send):
        if scope["type"] != "http" or scope["path"].startswith(("/auth", "/.well-known")):
            return await app(scope, receive, send)

        async def late(message):
            if message["type"] == "http.response.start":
                if message["status"] == 401:
                    refused.append(scope["path"])
                await asyncio.sleep(seconds)
            await send(message)
        await app(scope, receive, late)
    return delayed


@dataclass
class SmartHis:
    base: str
    authority: Authority
    key: Path
    refused: list[str]  # the paths answered 401


@contextlib.contextmanager
def smart_his(tmp_path: Path, token_seconds: float = 300.0, delay: float = 0.0,
              resources: int = 40) -> Iterator[SmartHis]:
    """The demo HIS in SMART mode with `resources` patients and observations, the client
    CLIENT registered with a key `releve keys client` made."""
    key, jwks = make_client_key(tmp_path / "client")
    (tmp_path / "clients.json").write_bytes(orjson.dumps({CLIENT: jwks}))
    authority = Authority.from_file(tmp_path / "clients.json", token_seconds)
    data = tmp_path / "his.ndjson"
    lines = [{"resourceType": "Patient", "id": f"p{i}", "gender": "female",
              "name": [{"family": f"Martin{i}"}]} for i in range(resources // 2)]
    lines += [{"resourceType": "Observation", "id": f"o{i}", "status": "final",
               "code": {"text": "Température"}, "subject": {"reference": f"Patient/p{i}"},
               "valueQuantity": {"value": 37.5, "unit": "°C"}} for i in range(resources // 2)]
    data.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    store = Store(tmp_path / "his.db")
    load_files(store, [data])
    app = create_app(store, export_dir=tmp_path / "exports", smart=authority)
    refused: list[str] = []
    try:
        with serving(slow(app, delay, refused)) as url:
            yield SmartHis(url, authority, key, refused)
    finally:
        store.close()


def server_state(his: SmartHis) -> dict[str, dict]:
    """Every current resource of the server, read with a token of our own."""
    found: dict[str, dict] = {}
    auth = BackendAuth(CLIENT, load_client_key(his.key), his.base)
    with httpx.Client(auth=auth, timeout=30) as client:
        for rtype in ("Patient", "Observation"):
            url: str | None = f"{his.base}/{rtype}?_count=500"
            while url:
                bundle = client.get(url).json()
                for entry in bundle.get("entry", []):
                    found[f"{rtype}/{entry['resource']['id']}"] = entry["resource"]
                url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    return found


def smart_capture(his: SmartHis, tmp_path: Path, keys, vault: Path, *extra: str, check: bool = True):
    return run_releve("capture", "--vault", vault, "--fhir", his.base, "--signing-key",
                      keys.signing_key, "--state", tmp_path / "state", "--once",
                      "--client-id", CLIENT, "--client-key", his.key, *extra, check=check)


# --- the key pair ---------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_keys_client_writes_a_private_key_and_a_jwks_that_verifies_its_assertions(tmp_path, alg):
    key_path, printed = make_client_key(tmp_path / "keys", alg)
    assert os.stat(key_path).st_mode & 0o777 == 0o600
    written = orjson.loads((tmp_path / "keys" / f"{CLIENT}.jwks.json").read_bytes())
    assert written == printed
    jwk, = printed["keys"]
    assert jwk["alg"] == alg and jwk["use"] == "sig" and jwk["kty"] == {"ES384": "EC", "RS384": "RSA"}[alg]
    assert "d" not in jwk and "p" not in jwk  # the public half only
    # kid is the RFC 7638 thumbprint, computed here independently
    public = jwt.PyJWK.from_dict(jwk)
    from cryptography.hazmat.primitives import hashes
    from jwt.utils import base64url_encode
    required = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("e", "kty", "n")
    digest = hashes.Hash(hashes.SHA256())
    digest.update(orjson.dumps({k: jwk[k] for k in required}, option=orjson.OPT_SORT_KEYS))
    assert jwk["kid"] == base64url_encode(digest.finalize()).decode()
    # an assertion signed with the private key verifies with the registered JWKS
    private = load_client_key(key_path)
    assertion = jwt.encode({"iss": CLIENT, "sub": CLIENT, "aud": "https://his/token", "jti": "1"},
                           private, algorithm=alg, headers={"kid": jwk["kid"]})
    claims = jwt.decode(assertion, public, algorithms=[alg], audience="https://his/token")
    assert claims["iss"] == CLIENT
    # never overwritten
    again = run_releve("keys", "client", CLIENT, "--out", tmp_path / "keys", check=False)
    assert again.returncode == 1 and "already exists" in again.stderr.decode()
    assert load_client_key(key_path).private_numbers() == private.private_numbers()


def test_a_client_key_others_can_read_is_refused(tmp_path):
    key_path, _ = make_client_key(tmp_path)
    os.chmod(key_path, 0o640)
    with pytest.raises(SmartError, match="other accounts.*chmod 600"):
        load_client_key(key_path)


# --- the authorization server and the token flow ---------------------------------------------


def test_every_fhir_request_needs_a_token_and_a_revoked_one_is_renewed_once(tmp_path):
    with smart_his(tmp_path) as his:
        for path in ("metadata", "Patient", "_history"):
            refused = httpx.get(f"{his.base}/{path}")
            assert refused.status_code == 401 and "SMART access token" in refused.text
        configuration = httpx.get(f"{his.base}/.well-known/smart-configuration").json()
        assert configuration["token_endpoint"] == f"{his.base}/auth/token"
        auth = BackendAuth(CLIENT, load_client_key(his.key), his.base)  # discovers the token URL
        client = FhirClient(his.base, Auth(smart=auth))
        assert client.capabilities()["resourceType"] == "CapabilityStatement"
        assert client.get_json("Patient/p1")["id"] == "p1"
        assert his.authority.issued == 1 and auth.token_url == configuration["token_endpoint"]
        his.authority.tokens.clear()  # the server revokes: the next answer is a 401
        assert client.get_json("Patient/p2")["id"] == "p2"
        assert his.authority.issued == 2 and his.refused[3:] == ["/Patient/p2"]
        assert "key" not in repr(auth).replace("client_key", "") and auth.token.value not in repr(auth)
        client.close()


def test_each_token_issued_is_logged_without_its_value(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="releve.demo.his")
    with smart_his(tmp_path, token_seconds=60.0) as his:
        auth = BackendAuth(CLIENT, load_client_key(his.key), his.base)
        client = FhirClient(his.base, Auth(smart=auth))
        client.get_json("Patient/p1")
        his.authority.tokens.clear()
        client.get_json("Patient/p2")
        client.close()
    issued = [r.getMessage() for r in caplog.records if "SMART token" in r.getMessage()]
    assert issued == [f"SMART token {n} issued to client {CLIENT}, valid 60 s" for n in (1, 2)]
    assert auth.token is not None and auth.token.value not in caplog.text


def test_the_token_endpoint_refuses_a_replayed_or_foreign_assertion(tmp_path):
    with smart_his(tmp_path) as his:
        url = f"{his.base}/auth/token"
        auth = BackendAuth(CLIENT, load_client_key(his.key), his.base, url)
        form = auth._grant(url)
        assert httpx.post(url, data=form).status_code == 200
        replay = httpx.post(url, data=form)
        assert replay.status_code == 401 and "jti was used before" in replay.json()["error_description"]
        foreign = BackendAuth(CLIENT, load_client_key(make_client_key(tmp_path / "other")[0]), his.base)
        refused = httpx.post(url, data=foreign._grant(url)).json()
        assert refused["error"] == "invalid_client" and "has kid" in refused["error_description"]
        wrong_type = httpx.post(url, data={**auth._grant(url), "client_assertion_type": "x"}).json()
        assert wrong_type["error"] == "invalid_request" and ASSERTION_TYPE in wrong_type["error_description"]


# --- capture with expiring tokens --------------------------------------------------------------


@pytest.mark.parametrize("mode, delay", [("history", 0.05), ("search", 0.05), ("bulk", 0.6)])
def test_capture_renews_tokens_that_expire_mid_cycle(tmp_path, keys, vault_dir, mode, delay):
    """Tokens last 1 s; the HIS answers `delay` late (bulk makes few requests, but a
    status poll waits a second or more between them)."""
    with smart_his(tmp_path, token_seconds=1.0, delay=delay, resources=400) as his:
        result = smart_capture(his, tmp_path, keys, vault_dir, "--mode", mode)
        assert "segment 1 (full): 400 put" in result.stdout.decode()
        assert his.authority.issued >= 3  # the cycle outlived its first tokens
        assert his.refused == []  # each renewed before it expired, not on a 401
        assert vault_state(vault_dir, keys) == server_state(his)
        output = result.stdout + result.stderr
        assert b"eyJ" not in output and not any(t.encode() in output for t in his.authority.tokens)


@pytest.mark.parametrize("case, cause", [
    ("unknown client", "unknown client 'nobody'"),
    ("bad key", "no key of client 'releve-capture' has kid"),
    ("wrong audience", "aud is not this token endpoint"),
    ("readable key", "can be read or changed by other accounts"),
])
def test_a_refused_client_fails_naming_the_cause_without_secrets(tmp_path, keys, vault_dir, case, cause):
    with smart_his(tmp_path) as his:
        extra: list[str] = []
        if case == "unknown client":
            extra = ["--client-id", "nobody"]
        elif case == "bad key":
            his.key = make_client_key(tmp_path / "other")[0]
        elif case == "wrong audience":  # reaches the endpoint, but is not its URL
            extra = ["--token-url", f"{his.base}/auth/token?for=another"]
        else:
            os.chmod(his.key, 0o644)
        result = smart_capture(his, tmp_path, keys, vault_dir, *extra, check=False)
        output = (result.stdout + result.stderr).decode()
        assert result.returncode != 0 and cause in output, output
        if case != "readable key":
            assert "invalid_client" in output
        secret = his.key.read_text().splitlines()[1]
        assert secret not in output and "eyJ" not in output
        assert his.authority.issued == 0


def test_the_token_url_is_discovered_or_given(tmp_path, keys, vault_dir):
    with smart_his(tmp_path) as his:
        given = smart_capture(his, tmp_path, keys, vault_dir, "--token-url", f"{his.base}/auth/token")
        assert "segment 1 (full): 40 put" in given.stdout.decode()
    # a server without SMART: discovery fails, saying what to give
    plain = Store(tmp_path / "plain.db")
    try:
        with serving(create_app(plain, export_dir=tmp_path / "plain-exports")) as url:
            result = run_releve("capture", "--vault", vault_dir, "--fhir", url, "--signing-key",
                                keys.signing_key, "--state", tmp_path / "state2", "--once",
                                "--client-id", CLIENT, "--client-key", his.key, check=False)
    finally:
        plain.close()
    output = result.stderr.decode()
    assert result.returncode != 0 and "smart-configuration" in output and "--token-url" in output
