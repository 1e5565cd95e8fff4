"""The web app's HTTP side: pages, static files under the CSP, layer registry and basemap."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient
from shapely.geometry import Point, shape

import cityos
from cityos.identity.models import Role
from cityos.web import static_dir
from cityos.web.layers import layers
from cityos.web.tiles import tiles

HUB_AUTH = "on"


def test_pages_are_served_with_the_app_policy(client: TestClient) -> None:
    for path, script in (("/", "dashboard.js"), ("/citizen", "citizen.js")):
        r = client.get(path)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        assert f'src="/static/js/{script}"' in r.text
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["cache-control"] == "no-cache"


def test_every_asset_a_page_names_is_served(client: TestClient) -> None:
    for path in ("/", "/citizen", "/scenarios", "/operator"):
        html = client.get(path).text
        assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
        assert assets
        for asset in assets:
            assert client.get(asset).status_code == 200, asset
    # Module imports between our own scripts resolve too.
    for module in (static_dir() / "js").glob("*.js"):
        for name in re.findall(r'from "\./([\w.-]+)"', module.read_text(encoding="utf-8")):
            assert (static_dir() / "js" / name).is_file(), f"{module.name} imports {name}"


def test_pages_have_no_inline_script_or_style(client: TestClient) -> None:
    """The CSP forbids inline code; a page that relied on it would break in the browser."""
    for path in ("/", "/citizen", "/scenarios", "/operator"):
        html = client.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
        assert "<style" not in html
        assert " style=" not in html
        assert not re.search(r"\son[a-z]+=", html)


def test_message_catalogues_have_the_same_keys_and_cover_the_pages() -> None:
    i18n = static_dir() / "i18n"
    ko = json.loads((i18n / "ko.json").read_text(encoding="utf-8"))
    en = json.loads((i18n / "en.json").read_text(encoding="utf-8"))
    assert set(ko) == set(en)
    # Feature catalogues (<bundle>.<lang>.json, named by a page's i18n-bundles meta): the same
    # keys in both languages, none shadowing the base catalogue.
    for ko_path in sorted(i18n.glob("*.ko.json")):
        bundle = json.loads(ko_path.read_text(encoding="utf-8"))
        en_path = ko_path.with_name(ko_path.name.replace(".ko.json", ".en.json"))
        bundle_en = json.loads(en_path.read_text(encoding="utf-8"))
        assert set(bundle) == set(bundle_en), ko_path.name
        assert not set(bundle) & set(ko), ko_path.name
        ko |= bundle
        en |= bundle_en
    assert all(isinstance(v, str) and v for v in [*ko.values(), *en.values()])
    used: set[str] = set()
    for path in Path(static_dir()).rglob("*"):
        if path.suffix in (".html", ".js") and "vendor" not in path.parts:
            text = path.read_text(encoding="utf-8")
            used |= set(re.findall(r'data-i18n="([\w.]+)"', text))
            used |= {k for _, k in re.findall(r"(aria-label|placeholder):([\w.]+)", text)}
            used |= set(re.findall(r'\bt\("([\w.]+)"', text))
    # Keys built from a value: every value they can take.
    used |= {f"grade.{g}" for g in ("good", "moderate", "bad", "verybad")}
    used |= {f"role.{role.value}" for role in Role}
    used |= {f"dash.layers.{group}" for group in ("base", "live")}
    used |= {f"inspector.range.{r}" for r in ("1h", "24h", "7d")}
    classes = {"pm25-grade": ("good", "moderate", "bad", "verybad")}
    classes |= {"speed-ratio": ("smooth", "slow", "jam"), "parking-free": ("plenty", "few", "full")}
    classes |= {"spot-status": ("spot-free", "spot-occupied", "spot-closed")}
    used |= {f"legend.{kind}" for kind in classes}
    used |= {f"class.{c}" for values in classes.values() for c in values}
    used |= {"kpi.congestion.detail", "kpi.congestion.flags", "kpi.er.beds", "kpi.er.detail"}
    used |= {"kpi.energy.kw", "kpi.energy.detail", "kpi.complaints.detail"}
    used |= {"runs.pick.a", "runs.pick.b"}
    services = ("complaints", "polls", "proposals", "er", "trip", "walking", "events")
    used |= {f"service.{s}" for s in services}
    missing = used - set(ko)
    assert not missing, missing


def test_layer_registry_lists_declarations(client: TestClient) -> None:
    r = client.get("/web/layers")
    assert r.status_code == 200
    body = r.json()
    assert [layer["id"] for layer in body] == [layer.id for layer in layers()]
    by_id = {layer["id"]: layer for layer in body}
    assert by_id["districts"]["query"]["type"] == "AdministrativeArea"
    assert by_id["air-quality"]["kpi"] == "air-quality"
    for layer in body:
        assert layer["name_ko"]
        assert layer["name_en"]
        assert layer["source"] in ("basemap", "entities")
        assert re.fullmatch(r"#[0-9a-f]{6}", layer["style"]["color_light"])
        assert re.fullmatch(r"#[0-9a-f]{6}", layer["style"]["color_dark"])


def test_tile_registry_lists_declarations(client: TestClient) -> None:
    r = client.get("/web/tiles")
    assert r.status_code == 200
    body = r.json()
    assert [tile["id"] for tile in body] == [tile.id for tile in tiles()]
    layer_ids = {layer.id for layer in layers()}
    kinds = static_dir().joinpath("js", "kpi.js").read_text(encoding="utf-8")
    for tile in body:
        assert tile["name_ko"]
        assert tile["name_en"]
        assert set(tile["layers"]) <= layer_ids, tile  # every layer it reads exists
        assert f'"{tile["kind"]}"' in kinds or f"  {tile['kind']}:" in kinds, tile["kind"]
    by_id = {tile["id"]: tile for tile in body}
    assert by_id["congestion"]["layers"] == ["traffic"]
    assert by_id["er-load"]["kind"] == "er-load"


def test_basemap_layers_are_geojson_of_the_twin_bundle(client: TestClient) -> None:
    roads = client.get("/web/basemap/roads")
    assert roads.status_code == 200
    assert roads.headers["content-type"] == "application/geo+json"
    ring = client.get("/web/basemap/brt").json()
    assert ring["type"] == "FeatureCollection"
    assert {f["properties"]["road_class"] for f in ring["features"]} == {"brt_ring"}
    ring_km = sum(f["properties"]["length_m"] for f in ring["features"]) / 1000
    assert 45.0 < ring_km < 47.0  # the 22.9 km BRT inner ring, one link per direction
    others = {f["properties"]["road_class"] for f in roads.json()["features"]}
    assert "brt_ring" not in others
    assert "urban_arterial" in others
    facilities = client.get("/web/basemap/facilities").json()["features"]
    assert len(facilities) == 306
    assert all(f["geometry"]["type"] == "Point" for f in facilities)


def test_an_unknown_basemap_layer_says_which_exist(client: TestClient) -> None:
    r = client.get("/web/basemap/rivers")
    assert r.status_code == 404
    body = r.json()
    assert "roads, brt, facilities" in body["detail"]
    assert "roads, brt, facilities" in body["detail_ko"]


def test_parks_and_water_are_approximate_polygons_in_sejong(client: TestClient) -> None:
    city = shape(
        json.loads(
            (Path(cityos.__file__).parent / "data" / "sejong" / "city.geojson").read_text("utf-8")
        )["features"][0]["geometry"]
    )
    names = {}
    for name, kind in (("parks", "park"), ("water", "water")):
        r = client.get(f"/web/basemap/{name}")
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/geo+json"
        for f in r.json()["features"]:
            props = f["properties"]
            assert props["kind"] == kind
            assert props["origin"] == "approximate"
            geometry = shape(f["geometry"])
            assert geometry.geom_type == "Polygon"
            assert geometry.is_valid
            assert city.buffer(0.01).intersects(geometry), props["name_en"]
            names[props["name_ko"]] = geometry
    assert {"금강", "미호천", "세종호수", "방축천"} <= set(names)
    assert {"세종호수공원", "국립세종수목원", "세종중앙공원"} <= set(names)
    assert names["세종호수공원"].contains(names["세종호수"].representative_point())
    # The Government Complex (36.5047 N, 127.2653 E) is on the north bank, not in the river.
    assert not names["금강"].contains(Point(127.2653, 36.5047))
