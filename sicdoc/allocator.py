"""C allocator settings of the web server's processes.

glibc's malloc gives each thread that allocates at once its own arena (up to eight per core) and
keeps what an arena once held for that arena: in a gunicorn worker with four threads, four large
views at once leave four arenas' worth of freed memory resident for good. The threads take turns on
the interpreter lock anyway, so two arenas serve them without contention to speak of.
"""

from __future__ import annotations

import ctypes
import os

# mallopt's parameter number for the arena limit (malloc.h); the MALLOC_ARENA_MAX variable sets the
# same thing when the process starts, and wins when an operator has set it.
M_ARENA_MAX = -8
ARENAS = 2


def cap_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Allow at most ``arenas`` malloc arenas in this process and the workers it forks.

    True when glibc took the setting; False where MALLOC_ARENA_MAX is set or the C library is not
    glibc (nothing changes there)."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))
