"""The secrets a command takes (vault tokens, the FHIR server's token and password): from a
file, from the environment, or, for compatibility only, from the command line.

Every account on the machine can read a process's command line (`ps -ef`), so a secret
given there leaks; each secret option `--X` therefore has a companion `--X-file PATH`
(and the variables RELEVE_..., RELEVE_..._FILE). A secret file holds the secret on its
first line (surrounding white space is dropped) and must be readable by its owner only:
one that its group or other accounts may read is refused, as ssh refuses such a key,
since the secret has then leaked already. A secret given on the command line still works
and prints a warning to stderr, without the secret.

Typer wants one parameter per option, so a command declares both, the file first:

    token_file: Path | None = TOKEN_FILE,
    token: str | None = WRITER_TOKEN,

The file option is eager (parsed before the others), so the secret option's callback
finds the path and hands the command the secret itself: the command reads `token` only.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import typer

from .console import err


def secret_file_option(flag: str, envvar: str) -> Any:
    """The `--X-file PATH` companion of the secret option `flag` (`--X`)."""
    return typer.Option(None, f"{flag}-file", envvar=f"{envvar}_FILE", is_eager=True,
                        show_default=False, dir_okay=False,
                        help=f"File holding the {flag[2:].replace('-', ' ')} on its first line (mode 0600)")


def secret_option(flag: str, envvar: str, help: str, required: bool = False) -> Any:
    """The secret option `flag` itself; the command receives the secret, wherever it came
    from. `required`: the command refuses to start without it."""
    file_param = f"{flag[2:].replace('-', '_')}_file"

    def resolve(ctx: typer.Context, param: typer.CallbackParam, value: str | None) -> str | None:
        path = ctx.params[file_param]
        if path is not None:
            if value:
                raise typer.BadParameter(f"give {flag} or {flag}-file (or their variables), not both")
            return read_secret_file(path)
        source = ctx.get_parameter_source(param.name or "")
        if value and source is not None and source.name == "COMMANDLINE":
            err.print(f"[yellow]warning:[/] {flag} given on the command line can be read by every "
                      f"account in the process list; use {flag}-file PATH or {envvar} instead",
                      highlight=False)
        if required and not value:
            raise typer.BadParameter(f"missing: give {flag}-file PATH (or set {envvar}_FILE "
                                     f"or {envvar})")
        return value or None

    return typer.Option(None, flag, envvar=envvar, callback=resolve, show_envvar=True,
                        help=f"{help} (prefer {flag}-file)")


def read_secret_file(path: Path) -> str:
    """The first line of `path`, stripped; refused if the file's group or others may read it."""
    try:
        with open(path, encoding="utf-8") as handle:
            mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
            first = handle.readline().strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise typer.BadParameter(f"cannot read {path}: {reason}") from None
    if mode & 0o077:
        raise typer.BadParameter(f"{path} can be read or changed by other accounts (mode {mode:04o}): "
                                 f"make it private with `chmod 600 {path}`")
    if not first:
        raise typer.BadParameter(f"{path} is empty: the secret goes on its first line")
    return first


# every secret a command takes, each with its file option
TOKEN_FILE = secret_file_option("--token", "RELEVE_TOKEN")  # a client of the vault server
WRITER_TOKEN = secret_option("--token", "RELEVE_TOKEN", "Writer token (URL vaults)")
READER_TOKEN = secret_option("--token", "RELEVE_TOKEN", "Reader token (URL vaults)")
SERVE_WRITER_FILE = secret_file_option("--writer-token", "RELEVE_WRITER_TOKEN")  # the server
SERVE_WRITER = secret_option("--writer-token", "RELEVE_WRITER_TOKEN", "Token allowed to append",
                             required=True)
SERVE_READER_FILE = secret_file_option("--reader-token", "RELEVE_READER_TOKEN")
SERVE_READER = secret_option("--reader-token", "RELEVE_READER_TOKEN", "Token allowed to read",
                             required=True)
FHIR_TOKEN_FILE = secret_file_option("--fhir-token", "RELEVE_FHIR_TOKEN")  # the HIS's FHIR API
FHIR_TOKEN = secret_option("--fhir-token", "RELEVE_FHIR_TOKEN", "Bearer token for the FHIR server")
FHIR_PASSWORD_FILE = secret_file_option("--fhir-password", "RELEVE_FHIR_PASSWORD")
FHIR_PASSWORD = secret_option("--fhir-password", "RELEVE_FHIR_PASSWORD", "Basic-auth password")
