"""English for the downtime entries: orders (see i18n/__init__.py)."""

EN: dict[str, str] = {}
