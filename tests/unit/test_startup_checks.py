"""A wrong setting stops the start with a message naming it, before any request can meet it."""

import pytest

from sicdoc.app import create_app

BAD = [
    ({"TIME_ZONE": "Mars/Olympus_Mons"}, "SICDOC_TIME_ZONE"),
    ({"TIME_ZONE": ""}, "SICDOC_TIME_ZONE"),
    ({"FHIR_MAX_BUNDLE_ENTRIES": "many"}, "SICDOC_FHIR_MAX_BUNDLE_ENTRIES"),
    ({"MAX_CONTENT_LENGTH": -1}, "SICDOC_MAX_CONTENT_LENGTH"),
    ({"ACCESS_TOKEN_SECONDS": "5 minutes"}, "SICDOC_ACCESS_TOKEN_SECONDS"),
    ({"DASHBOARD_CACHE_SECONDS": True}, "SICDOC_DASHBOARD_CACHE_SECONDS"),
    ({"LOCKOUT_FAILURES": "x"}, "SICDOC_LOCKOUT_FAILURES"),
    ({"QI_CLINICIAN_LABELS": "ids"}, "SICDOC_QI_CLINICIAN_LABELS"),
    ({"BASE_URL": "ftp://sicdoc.example.org"}, "SICDOC_BASE_URL"),
    ({"AUDIT_KEY": "short"}, "SICDOC_AUDIT_KEY"),
]


@pytest.mark.parametrize(("override", "named"), BAD)
def test_a_bad_setting_stops_the_start(tmp_path, override, named):
    settings = {"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", **override}
    with pytest.raises(RuntimeError, match=named):
        create_app(settings)


def test_a_missing_dashboards_folder_stops_the_start(tmp_path):
    settings = {
        "TESTING": True,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DASHBOARDS_DIR": str(tmp_path / "nowhere"),
    }
    with pytest.raises(RuntimeError, match="dashboard definitions"):
        create_app(settings)


def test_good_settings_start(tmp_path):
    settings = {
        "TESTING": True,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "TIME_ZONE": "America/Chicago",
        "FHIR_MAX_BUNDLE_ENTRIES": "200",
    }
    app = create_app(settings)
    assert app.config["FHIR_MAX_BUNDLE_ENTRIES"] == 200
    app.extensions["sicdoc.engine"].dispose()
