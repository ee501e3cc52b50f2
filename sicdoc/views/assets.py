"""Static files (stylesheet, scripts, icon, plotly.js) under names that carry a hash of their content.

When the app is built, every file under ``sicdoc/static`` and the plotly.js of the installed plotly
package is read once, hashed and gzipped, and kept in memory (gunicorn forks after that, so the
workers share it). Templates link ``asset_url(name)``, which gives ``/static/<stem>.<hash><suffix>``:
that URL never changes meaning, so browsers and proxies may keep it for a year without asking again,
and a changed file gets a new URL. The plain name still answers, with a short cache, for links kept
outside the app. A name that is neither (an old or made-up hash) is a 404.

Only these files are public and cacheable; every other response keeps ``no-store`` (views/guard.py).
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from flask import Flask, Response, abort, current_app, request, url_for

from sicdoc.figures import plotly_js_path

STATIC = Path(__file__).resolve().parent.parent / "static"
EXTENSION = "sicdoc.assets"
IMMUTABLE = "public, max-age=31536000, immutable"
# Plain names may change meaning with the next release: browsers check again after five minutes.
SHORT = "public, max-age=300"
HASH_CHARS = 16  # 64 bits of SHA-256: a collision between two versions of one file is not a concern
COMPRESSIBLE = frozenset({".css", ".js", ".svg", ".json", ".map", ".txt", ".html"})
MIN_GAIN = 0.9  # keep the gzip copy only when it is at most 90% of the file


@dataclass(frozen=True)
class Asset:
    name: str  # as templates ask for it, e.g. "css/app.css"
    hashed: str  # e.g. "css/app.0123456789abcdef.css"
    digest: str
    mimetype: str
    body: bytes
    gzipped: bytes | None


@dataclass(frozen=True)
class Manifest:
    by_name: Mapping[str, Asset]
    by_hashed: Mapping[str, Asset]

    def find(self, filename: str) -> tuple[Asset, bool] | None:
        """The asset a request names and whether the name is the hashed (immutable) one."""
        asset = self.by_hashed.get(filename)
        if asset is not None:
            return asset, True
        asset = self.by_name.get(filename)
        return (asset, False) if asset is not None else None


# Reading, hashing and compressing plotly.js costs a quarter of a second; an unchanged file is done once
# per process however many apps are built (the tests build hundreds).
_done: dict[tuple[str, str, int, int], Asset] = {}


def hashed_name(name: str, digest: str) -> str:
    path = PurePosixPath(name)
    return str(path.with_name(f"{path.stem}.{digest[:HASH_CHARS]}{path.suffix}"))


def load_asset(name: str, path: Path) -> Asset:
    stat = path.stat()
    key = (name, str(path), stat.st_size, stat.st_mtime_ns)
    if key in _done:
        return _done[key]
    body = path.read_bytes()
    digest = hashlib.sha256(body).hexdigest()
    mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if mimetype in ("application/javascript", "text/javascript"):
        mimetype = "text/javascript"  # the type RFC 9239 names; some systems' tables say otherwise
    gzipped = None
    if path.suffix in COMPRESSIBLE:
        packed = gzip.compress(body, compresslevel=9, mtime=0)  # mtime=0: the same bytes every start
        gzipped = packed if len(packed) <= len(body) * MIN_GAIN else None
    asset = Asset(name, hashed_name(name, digest), digest, mimetype, body, gzipped)
    _done[key] = asset
    return asset


def build_manifest(folder: Path = STATIC, extra: Mapping[str, Path] | None = None) -> Manifest:
    """Every file under ``folder`` (hidden files left out) and the ``extra`` ones, by name and hashed name."""
    files = {
        path.relative_to(folder).as_posix(): path
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    }
    files.update(extra or {})
    assets = [load_asset(name, path) for name, path in files.items()]
    return Manifest({a.name: a for a in assets}, {a.hashed: a for a in assets})


def _build() -> Manifest:
    return build_manifest(STATIC, {"plotly.min.js": plotly_js_path()})


def init_app(app: Flask) -> None:
    """Serve /static/ from the manifest (the app is built with ``static_folder=None``)."""
    app.extensions[EXTENSION] = _build()
    # The endpoint keeps Flask's name, so the access rules and url_for('static', ...) keep working.
    app.add_url_rule("/static/<path:filename>", endpoint="static", view_func=serve)
    app.add_template_global(asset_url)


def manifest() -> Manifest:
    if current_app.debug:  # a developer's edit shows at the next page; unchanged files are not reread
        current_app.extensions[EXTENSION] = _build()
    found: Manifest = current_app.extensions[EXTENSION]
    return found


def asset_url(name: str) -> str:
    """The hashed URL of a static file; a name that is not one is a template error, raised at once."""
    asset = manifest().by_name.get(name)
    if asset is None:
        raise LookupError(f"no static file named {name!r}")
    return url_for("static", filename=asset.hashed)


def serve(filename: str) -> Response:
    found = manifest().find(filename)
    if found is None:
        abort(404)
    asset, immutable = found
    packed = asset.gzipped is not None and request.accept_encodings["gzip"] > 0
    body = asset.gzipped if packed and asset.gzipped is not None else asset.body
    # Each encoding is its own representation, so each has its own strong validator.
    etag = f"{asset.digest[:HASH_CHARS]}-gzip" if packed else asset.digest[:HASH_CHARS]
    headers = {"Cache-Control": IMMUTABLE if immutable else SHORT}
    if asset.gzipped is not None:
        headers["Vary"] = "Accept-Encoding"
    if packed:
        headers["Content-Encoding"] = "gzip"
    if request.if_none_match.contains_weak(etag):
        resp = Response(status=304, headers=headers)
    else:
        resp = Response(body, mimetype=asset.mimetype, headers=headers)
    resp.set_etag(etag)
    return resp
