"""English for the downtime entries: peers (see i18n/__init__.py)."""

EN: dict[str, str] = {}
