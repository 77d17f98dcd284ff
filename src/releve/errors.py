"""The root of Relève's own errors.

Every error the package raises on purpose derives from `ReleveError`, so the command
line can print any of them as one clear line (and let anything else, a real bug, show
its traceback). A component's errors derive from this root, never from another
component's errors: catching a vault error must not also catch a station's.
"""

from __future__ import annotations


class ReleveError(Exception):
    """Something Relève refuses or cannot do, said in words an operator can act on."""
