"""What a station serves its peers and the crisis cell: its journal and its status."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
