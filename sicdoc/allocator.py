"""C allocator settings of the web server's processes.

glibc's malloc gives each thread that allocates at once its own arena (up to eight per core) and
keeps what an arena once held for that arena: in a gunicorn worker with four threads, four large
views at once leave four arenas' worth of freed memory resident for good. The threads take turns on
the interpreter lock anyway, so two arenas serve them without contention to speak of.

glibc also raises its mmap threshold to the largest block freed (up to 32 MiB on 64-bit), after which
blocks of a few megabytes, a pandas column of the worklist, come from the heap, which keeps what it
held: a worker's memory grew by the worklist's size at the first write after reading it, and stayed.
A fixed threshold keeps every large block in its own mapping, handed back when it is freed.
"""

from __future__ import annotations

import ctypes
import os

# mallopt's parameter number for the arena limit (malloc.h); the MALLOC_ARENA_MAX variable sets the
# same thing when the process starts, and wins when an operator has set it.
M_ARENA_MAX = -8
ARENAS = 2
# Likewise for the mmap threshold (MALLOC_MMAP_THRESHOLD_); setting it stops glibc moving it.
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1 << 20


def cap_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Allow at most ``arenas`` malloc arenas in this process and the workers it forks.

    True when glibc took the setting; False where MALLOC_ARENA_MAX is set or the C library is not
    glibc (nothing changes there)."""
    return _mallopt("MALLOC_ARENA_MAX", M_ARENA_MAX, arenas)


def fix_mmap_threshold(size: int = MMAP_THRESHOLD) -> bool:
    """Give every block of ``size`` bytes or more its own mapping, in this process and the workers
    it forks; True when glibc took the setting, False where MALLOC_MMAP_THRESHOLD_ is set or the C
    library is not glibc."""
    return _mallopt("MALLOC_MMAP_THRESHOLD_", M_MMAP_THRESHOLD, size)


def _mallopt(variable: str, parameter: int, value: int) -> bool:
    if os.environ.get(variable):
        return False  # an operator's setting wins
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(parameter, value))
