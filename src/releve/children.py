"""Forked workers end with the process that forked them.

A worker of a fork pool waits for work on a pipe whose write end it holds itself, so a
parent killed by SIGKILL (kill -9, the kernel's out-of-memory killer) never gives it an
end of file: it waited for ever, holding its memory and its open files (measured: the
kill -9 trials of the station's sync left every worker of every killed sync behind).
Linux sends a child a signal of its choosing when its parent ends (PR_SET_PDEATHSIG);
elsewhere nothing changes. The signal comes when the *thread* that forked the child
ends: Relève forks its workers from the main thread only.
"""

from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> bool:
    """Called first thing in a forked child. False where the system cannot do it."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return False
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    if prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return False
    if os.getppid() == 1:  # the parent was already gone before the call took effect
        os._exit(1)
    return True
