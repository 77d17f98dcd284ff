"""Recording observations during the downtime: the pages and their posts (docs/journal.md)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
