"""English for the downtime entries: moves (see i18n/__init__.py)."""

EN: dict[str, str] = {}
