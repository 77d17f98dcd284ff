"""`python -m releve.cli`: the `releve` command without its installed script."""

from . import app

app()
