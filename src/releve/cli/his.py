"""The restored HIS as the way back's commands reach it (`journal reconcile`, `journal
identities`, `verify`): one set of options and one client, so that the three take the
same token, the same SMART client credentials and the same CA, the same way.

The token is the restored HIS's (`--token-file`, `RELEVE_HIS_TOKEN[_FILE]`), not the
capture's read-only one (`RELEVE_FHIR_TOKEN`): reconcile writes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from .console import err
from .tokens import secret_file_option, secret_option

if TYPE_CHECKING:
    from ..fhir.client import FhirClient

HIS_TOKEN_FILE = secret_file_option("--token", "RELEVE_HIS_TOKEN")
HIS_TOKEN = secret_option("--token", "RELEVE_HIS_TOKEN", "Bearer token for the HIS's FHIR API")
CLIENT_ID = typer.Option(None, "--client-id", help="SMART Backend Services (client credentials): "
                                                   "the client id the HIS registered")
CLIENT_KEY = typer.Option(None, "--client-key", dir_okay=False,
                          help="SMART: the client's private key (PEM, 0600; `releve keys client`)")
TOKEN_URL = typer.Option(None, "--token-url", help="SMART: the token endpoint (default: the "
                                                   "server's .well-known/smart-configuration)")
CA_CERT = typer.Option(None, "--ca-cert", dir_okay=False, help="CA certificate of the HIS")
READ_SCOPE = "system/*.read"
WRITE_SCOPE = "system/*.write system/*.read"


class Pauses:
    """The client's pauses before a retry, each said on stderr as it begins. (Capture's
    `Waits` also keeps the longest for its status file; the way back has none, and
    importing it loads capture and the vault's format: 0.15 s of a reconcile's start.)"""

    def __call__(self, seconds: float) -> None:
        time.sleep(seconds)

    def waiting(self, seconds: float, why: str) -> None:
        err.print(f"waiting {seconds:.0f} s: {escape(why)}", highlight=False)


def his_client(fhir: str, token: str | None, client_id: str | None, client_key: Path | None,
               token_url: str | None, scope: str, ca_cert: Path | None) -> FhirClient:
    """A client of the restored HIS: a bearer token, or SMART client credentials (capture's
    `smart_auth`), never both; its pauses before a retry said on stderr."""
    from ..fhir.client import Auth, FhirClient

    waits = Pauses()
    smart = None
    if client_id is not None or client_key is not None or token_url is not None:
        from .capture import smart_auth  # capture's modules, only when SMART is asked for

        smart = smart_auth(fhir, client_id, client_key, token_url, scope, ca_cert, bool(token),
                           waits)
    return FhirClient(fhir, Auth(token, smart=smart), ca_cert, sleep=waits, waiting=waits.waiting)
