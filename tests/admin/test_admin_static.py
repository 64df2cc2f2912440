"""The panel's static files: served with a strict CSP, and fully offline (no external URL)."""

from __future__ import annotations

import re

from admin_helpers import AdminEnv

from kiro_proxy.admin.routes import STATIC_DIR


async def test_index_and_assets_are_served_with_security_headers(admin_env: AdminEnv) -> None:
    redirect = await admin_env.http.get("/admin")
    assert redirect.status_code == 308 and redirect.headers["location"] == "/admin/"
    index = await admin_env.http.get("/admin/")
    assert index.status_code == 200 and "kiro-proxy" in index.text
    csp = index.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    for path in re.findall(r'(?:src|href)="(static/[^"]+)"', index.text):
        asset = await admin_env.http.get("/admin/" + path)
        assert asset.status_code == 200, path
        assert asset.headers["x-content-type-options"] == "nosniff"
    js = await admin_env.http.get("/admin/static/js/pages/dashboard.js")
    assert "javascript" in js.headers["content-type"]
    assert (await admin_env.http.get("/admin/static/nope.js")).status_code == 404


def test_no_asset_loads_anything_from_the_network() -> None:
    files = [p for p in STATIC_DIR.rglob("*") if p.is_file()]
    assert len(files) >= 10
    for path in files:
        text = path.read_text(encoding="utf-8")
        # The only absolute URLs allowed are XML namespaces and example placeholders.
        for url in re.findall(r"https?://[A-Za-z0-9][^\s\"'`),]*", text):
            assert url.startswith(
                ("http://www.w3.org/", "https://d-xxxxxxxxxx", "http://127.0.0.1")
            ), (path, url)
        assert "<script>" not in text and " style=" not in text, path


def test_both_languages_have_every_key() -> None:
    source = (STATIC_DIR / "js" / "i18n.js").read_text(encoding="utf-8")
    en_block = source.split("const EN = {")[1].split("};")[0]
    zh_block = source.split("const ZH = {")[1].split("};")[0]
    key = re.compile(r'"([a-zA-Z.\-]+)":')
    assert set(key.findall(en_block)) == set(key.findall(zh_block))
    used = set()
    for path in (STATIC_DIR / "js").rglob("*.js"):
        used |= set(
            re.findall(r'\bt\("([a-zA-Z\-]+\.[a-zA-Z.\-]+)"', path.read_text(encoding="utf-8"))
        )
    used = {k for k in used if not k.endswith(".")}  # prefixes completed at run time
    missing = used - set(key.findall(en_block))
    assert not missing, missing
