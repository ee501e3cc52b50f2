"""The CPU accounting of the benchmarks (``bench/processes.py``)."""

import subprocess
import sys

from bench.processes import cpu_seconds

# Burns 0.3 s of CPU, says so, and stays alive until its input closes.
_BURN = """
import sys, time
end = time.process_time() + 0.3
while time.process_time() < end:
    pass
print("burnt", flush=True)
sys.stdin.read()
"""


def test_cpu_seconds_counts_the_cpu_of_the_named_program(tmp_path):
    program = tmp_path / "cpuburner"  # a name no other process has
    program.symlink_to(sys.executable)
    assert cpu_seconds("cpuburner") == 0
    burner = subprocess.Popen(
        [str(program), "-c", _BURN], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert burner.stdout is not None and burner.stdout.readline() == "burnt\n"
        assert 0.25 <= cpu_seconds("cpuburner") < 5
    finally:
        burner.communicate("")
