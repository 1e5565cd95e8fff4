"""Build the Sejong digital-twin data bundle (``src/cityos/data/twin/``).

The bundle holds the twin's city model: 24 zones with residents, households, jobs, school
places and land use (each number labelled published/derived/synthetic), the road network
with the 22.9 km inner-ring BRT road, transit lines and facilities. Inputs are the Sejong
district bundle (``src/cityos/data/sejong``), ``cityos.twin.sources`` and ``cityos.twin.plan``;
the logic lives in ``cityos.twin.bundle``. The output is byte-for-byte deterministic for a
given seed and numpy/shapely/pyproj versions.

Usage::

    .venv/bin/python scripts/build_twin_bundle.py              # rewrite the shipped bundle
    .venv/bin/python scripts/build_twin_bundle.py --out /tmp/x # write elsewhere
    .venv/bin/python scripts/build_twin_bundle.py --check      # exit 1 if the bundle is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cityos.twin.bundle import DEFAULT_SEED, build_bundle

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "src" / "cityos" / "data" / "twin"


def write_bundle(out: Path, seed: int = DEFAULT_SEED) -> list[Path]:
    """Write every bundle file into ``out`` and return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in sorted(build_bundle(seed).items()):
        path = out / name
        path.write_bytes(text.encode("utf-8"))
        paths.append(path)
    return paths


def stale_files(out: Path, seed: int = DEFAULT_SEED) -> list[str]:
    """Return the names of shipped files that differ from a fresh build."""
    return [
        name
        for name, text in sorted(build_bundle(seed).items())
        if not (out / name).is_file() or (out / name).read_bytes() != text.encode("utf-8")
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the builder from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="facility placement seed")
    parser.add_argument("--check", action="store_true", help="fail if the bundle is stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(args.out, args.seed)
        if stale:
            print(f"stale twin bundle in {args.out}: {', '.join(stale)}", file=sys.stderr)
            return 1
        print(f"twin bundle in {args.out} is up to date")
        return 0
    for path in write_bundle(args.out, args.seed):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
