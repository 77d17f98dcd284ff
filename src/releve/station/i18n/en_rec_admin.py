"""English for the downtime entries: admin (see i18n/__init__.py)."""

EN: dict[str, str] = {}
