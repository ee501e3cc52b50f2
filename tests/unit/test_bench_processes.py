"""The CPU accounting of the benchmarks (``bench/processes.py``)."""

import time
from pathlib import Path

from bench.processes import cpu_seconds


def test_cpu_seconds_counts_the_cpu_a_named_program_used():
    program = Path("/proc/self/comm").read_text().strip()
    before = cpu_seconds(program)
    end = time.process_time() + 0.3
    while time.process_time() < end:  # burn 0.3 s of this process's CPU
        pass
    assert cpu_seconds(program) - before >= 0.25
    assert cpu_seconds("no-such-program") == 0
