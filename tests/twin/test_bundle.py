"""The twin bundle rebuilds byte for byte and the shipped copy is current."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from cityos.twin.bundle import build_bundle
from cityos.twin.city import load_city

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "src" / "cityos" / "data" / "twin"


def _script():
    spec = importlib.util.spec_from_file_location(
        "build_twin_bundle", REPO / "scripts" / "build_twin_bundle.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rebuild_is_deterministic_and_matches_shipped(tmp_path: Path) -> None:
    script = _script()
    a, b = tmp_path / "a", tmp_path / "b"
    script.write_bundle(a)
    script.write_bundle(b)
    # the yaml files (parameters with sources) and scenarios/ are hand-written, not generated
    names = sorted(p.name for p in SHIPPED.iterdir() if p.is_file() and p.suffix != ".yaml")
    assert sorted(p.name for p in a.iterdir()) == names
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
        assert (a / name).read_bytes() == (SHIPPED / name).read_bytes(), f"stale {name}"
    assert script.main(["--check", "--out", str(a)]) == 0
    (a / "zones.csv").write_text("stale\n", encoding="utf-8")
    assert script.main(["--check", "--out", str(a)]) == 1
    assert load_city(b).zones.population.sum() == 390_000


def test_bundle_is_small_and_labelled() -> None:
    files = build_bundle()
    assert sum(len(t.encode()) for t in files.values()) < 2_000_000
    manifest = json.loads(files["manifest.json"])
    assert abs(manifest["ring_length_m"] - 22_900.0) < 1.0  # links rounded to 0.1 m
    readme = files["README.md"]
    for needle in ("published", "derived", "synthetic", "approximate", "https://"):
        assert needle in readme
    other_seed = build_bundle(seed=1)
    assert other_seed["zones.csv"] == files["zones.csv"]
    assert other_seed["facilities.geojson"] != files["facilities.geojson"]


def test_readme_names_every_file_of_the_data_directory() -> None:
    """A file added by hand (yaml, scenario) must be in the README with its sources."""
    root = Path(__file__).resolve().parents[2] / "src" / "cityos" / "data" / "twin"
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert readme == build_bundle()["README.md"]  # the shipped README is the generated one
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != "README.md":
            name = path.name if path.parent == root else f"{path.parent.name}/*{path.suffix}"
            assert f"`{name}`" in readme, f"{name} is not described in the data README"
