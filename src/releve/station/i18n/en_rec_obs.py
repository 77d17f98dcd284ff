"""English for the downtime entries: obs (see i18n/__init__.py)."""

EN: dict[str, str] = {}
