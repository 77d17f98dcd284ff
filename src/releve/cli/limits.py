"""The options both serve commands share: how long a client may take, how many may connect.

What each limit does, and why at that level, is in releve/serving.py; the defaults live
there (`Limits`), once.
"""

from __future__ import annotations

import typer

from ..serving import Limits

HEAD_TIMEOUT = typer.Option(Limits.head_timeout, "--head-timeout", min=0.1,
                            help="Seconds a client has to send a whole request head; then it is cut")
BODY_TIMEOUT = typer.Option(Limits.body_timeout, "--body-timeout", min=0.1,
                            help="Seconds a request body may stall without a byte; then it is cut")
MAX_CONNECTIONS = typer.Option(Limits.max_connections, "--max-connections", min=16,
                               help="Open connections at most (lowered to fit the limit on open "
                                    "files); one more closes the oldest still sending its head")
