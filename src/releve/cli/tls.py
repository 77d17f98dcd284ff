"""`--tls-cert` and `--tls-key`, shared by the commands that serve HTTP (`releve station
serve`, `releve vault serve`): uvicorn then serves HTTPS with the hospital's certificate."""

from __future__ import annotations

from pathlib import Path

import typer

from .console import fail

TLS_CERT = typer.Option(None, "--tls-cert", exists=True, dir_okay=False,
                        help="Serve HTTPS with this certificate (PEM, chain included)")
TLS_KEY = typer.Option(None, "--tls-key", exists=True, dir_okay=False,
                       help="The certificate's private key (PEM, unencrypted; keep it 0600)")


def check_tls(cert: Path | None, key: Path | None) -> None:
    """Both or neither: a certificate without its key (or the reverse) is a typo."""
    if (cert is None) != (key is None):
        fail("give both --tls-cert and --tls-key, or neither", 2)
