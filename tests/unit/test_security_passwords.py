"""The login check's cost: no hash at import, and the first check the same whoever it is for."""

import subprocess
import sys

from sicdoc.security import passwords

PEAK_AFTER_IMPORT = """
import sicdoc.security.passwords
with open("/proc/self/status") as status:
    print(next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) // 1024)
"""


def test_importing_the_module_hashes_nothing():
    """An argon2id hash holds 64 MiB while it runs: a process that logs nobody in (the CLI, the
    analytics worker, the server's master) never pays it."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK_AFTER_IMPORT], capture_output=True, text=True, check=True
    )
    assert int(done.stdout) < 60


def test_the_first_check_costs_the_same_for_a_known_and_an_unknown_username(monkeypatch):
    real = passwords._hasher
    stored = real.hash("correct horse battery staple")
    calls: list[str] = []

    class Counting:
        def hash(self, password: str) -> str:
            calls.append("hash")
            return real.hash(password)

        def verify(self, hashed: str, password: str) -> bool:
            calls.append("verify")
            return real.verify(hashed, password)

    seen = {}
    for name, stored_hash in (("known", stored), ("unknown", None)):
        monkeypatch.setattr(passwords, "_hasher", Counting())
        monkeypatch.setattr(passwords, "_dummy", None)  # a new process
        calls.clear()
        assert passwords.verify_password(stored_hash, "not the password at all") is False
        seen[name] = list(calls)
        calls.clear()
        passwords.verify_password(stored_hash, "not the password at all")
        seen[name + " again"] = list(calls)
    assert seen == {
        "known": ["hash", "verify"],
        "unknown": ["hash", "verify"],
        "known again": ["verify"],
        "unknown again": ["verify"],
    }
