"""Static files under hashed names: linked from every page, cached for a year, gzipped, never stale;
pages with data keep ``no-store``. On both databases wherever a page is involved."""

import gzip
import re
from pathlib import Path

import pytest

from sicdoc.figures import plotly_js_path
from sicdoc.views.assets import IMMUTABLE, STATIC, build_manifest, hashed_name
from tests.conftest import login
from tests.web.forms_helpers import clinician_client, new_patient  # noqa: F401 - the clinician's ``client``

STATIC_LINK = re.compile(r'(?:href|src)="(/static/[^"]+)"')
HASHED = re.compile(r"/static/(?:[\w-]+/)*[\w.-]+\.[0-9a-f]{16}\.\w+")


def links(resp) -> list[str]:
    assert resp.status_code == 200, resp.status_code
    return STATIC_LINK.findall(resp.get_data(as_text=True))


@pytest.fixture
def analyst(app, users):
    browser = app.test_client()
    assert login(browser, "qi_analyst").status_code == 302
    return browser


def test_every_static_link_on_the_dashboard_is_hashed_and_plotly_is_one_of_them(analyst, app):
    resp = analyst.get("/dashboards/")
    found = links(resp)
    assert resp.headers["Cache-Control"] == "no-store"  # the page itself: never kept
    assert found and all(HASHED.fullmatch(url) for url in found), found
    plotly = next(url for url in found if "/plotly.min." in url)
    answer = analyst.get(plotly)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == IMMUTABLE
    assert answer.headers["Content-Type"].startswith("text/javascript")
    assert answer.data == plotly_js_path().read_bytes()  # no Accept-Encoding: the file as it is
    assert answer.headers["Content-Length"] == str(len(answer.data))
    assert "Set-Cookie" not in answer.headers  # a shared cache may keep it
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]


def test_login_page_links_work_without_a_session(app):
    anonymous = app.test_client()
    found = links(anonymous.get("/login"))
    assert {url.rsplit("/", 1)[1].split(".", 1)[0] for url in found} >= {"app", "favicon", "forms"}
    for url in found:
        resp = anonymous.get(url)
        assert resp.status_code == 200, url
        assert resp.headers["Cache-Control"] == IMMUTABLE
        assert "no-store" not in resp.headers["Cache-Control"]


def test_gzip_is_sent_when_accepted_and_decompresses_to_the_file(app):
    web = app.test_client()
    manifest = app.extensions["sicdoc.assets"]
    for name in ("plotly.min.js", "css/app.css", "js/dashboards.js"):
        asset = manifest.by_name[name]
        plain = web.get(f"/static/{asset.hashed}")
        packed = web.get(f"/static/{asset.hashed}", headers={"Accept-Encoding": "br, gzip, deflate"})
        assert packed.headers["Content-Encoding"] == "gzip"
        assert packed.headers["Vary"] == plain.headers["Vary"] == "Accept-Encoding"
        assert int(packed.headers["Content-Length"]) == len(packed.data) < len(plain.data)
        assert gzip.decompress(packed.data) == plain.data == asset.body
        assert "Content-Encoding" not in plain.headers
        # Two representations, two validators; each one revalidates to a 304 without a body.
        assert packed.headers["ETag"] != plain.headers["ETag"]
        again = web.get(
            f"/static/{asset.hashed}",
            headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["ETag"]},
        )
        assert again.status_code == 304 and again.data == b""
    refused = web.get(
        f"/static/{manifest.by_name['css/app.css'].hashed}", headers={"Accept-Encoding": "gzip;q=0"}
    )
    assert "Content-Encoding" not in refused.headers


def test_wrong_or_unknown_names_are_404_and_plain_names_get_a_short_cache(app):
    web = app.test_client()
    css = app.extensions["sicdoc.assets"].by_name["css/app.css"]
    for bad in (
        "css/app.0000000000000000.css",  # an old or made-up hash
        css.hashed.replace(".css", ".js"),
        "css/nope.css",
        "../app.py",
        "%2e%2e/app.py",
        "",
    ):
        assert web.get(f"/static/{bad}").status_code == 404, bad
    plain = web.get("/static/css/app.css")
    assert plain.status_code == 200 and plain.data == css.body
    assert plain.headers["Cache-Control"] == "public, max-age=300"


def test_patient_page_keeps_no_store_and_links_hashed_assets(client):
    pid = new_patient(client)
    resp = client.get(f"/patients/{pid}")
    found = links(resp)
    assert resp.headers["Cache-Control"] == "no-store"
    assert found and all(HASHED.fullmatch(url) for url in found), found
    assert client.get("/worklist").headers["Cache-Control"] == "no-store"


def test_a_changed_file_gets_a_new_name_and_the_old_name_is_gone(tmp_path):
    (tmp_path / "css").mkdir()
    sheet = tmp_path / "css" / "site.css"
    sheet.write_text("body { color: black; }\n" * 50)
    (tmp_path / ".hidden").write_text("not served")
    first = build_manifest(tmp_path)
    sheet.write_text("body { color: navy; }\n" * 50)
    second = build_manifest(tmp_path)
    old, new = first.by_name["css/site.css"].hashed, second.by_name["css/site.css"].hashed
    assert old != new and re.fullmatch(r"css/site\.[0-9a-f]{16}\.css", new)
    assert second.find(old) is None and second.find(new) is not None
    assert ".hidden" not in second.by_name
    assert hashed_name("plotly.min.js", "ab" * 32) == f"plotly.min.{'ab' * 8}.js"


def test_templates_link_static_files_only_through_asset_url():
    templates = STATIC.parent / "templates"
    for path in templates.rglob("*.html"):
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"url_for\(\s*['\"]static", source), path.relative_to(templates)
        assert "/static/" not in source, path.relative_to(templates)
    assert Path(templates / "base.html").read_text(encoding="utf-8").count("asset_url(") >= 3


def test_in_debug_mode_an_edited_file_is_linked_under_its_new_name(app, tmp_path, monkeypatch):
    from sicdoc.views import assets

    (tmp_path / "css").mkdir()
    sheet = tmp_path / "css" / "app.css"
    sheet.write_text("body { color: black; }\n")
    monkeypatch.setattr(assets, "STATIC", tmp_path)
    app.debug = True
    with app.test_request_context():
        before = assets.asset_url("css/app.css")
        sheet.write_text("body { color: navy; }\n")
        after = assets.asset_url("css/app.css")
    assert before != after and app.test_client().get(after).data == b"body { color: navy; }\n"
