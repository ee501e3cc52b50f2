"""What a web worker imports when the app is made: what it serves, not the statistics, figures or
password-strength stack it does not use (each is megabytes in every worker, at any population)."""

import os
import subprocess
import sys

PROBE = """
import sys
from sicdoc.app import create_app
create_app({"DATABASE_URL": "sqlite:///" + sys.argv[1], "ANALYTICS_MODE": "shared"})
print(" ".join(sorted(m for m in sys.modules if m.split(".")[0] in sys.argv[2:])))
"""
NOT_SERVED = ("zxcvbn", "plotly", "scipy", "sksurv", "sklearn", "statsmodels", "matplotlib")


def test_a_shared_mode_web_app_imports_no_statistics_figures_or_password_lists(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SICDOC_")}
    env |= {
        "SICDOC_SECRET_KEY": "k" * 40,
        "SICDOC_AUDIT_KEY": "a" * 40,
        "SICDOC_BASE_URL": "https://x.example.org",
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / "app.sqlite3"), *NOT_SERVED],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == []
