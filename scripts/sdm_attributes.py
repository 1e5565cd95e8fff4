"""Regenerate src/cityos/ingest/_sdm_attributes.py from the Smart Data Model JSON Schemas.

Usage: .venv/bin/python scripts/sdm_attributes.py [/work/shared/smart-data-models]

Reads every ``dataModel.<Domain>/<Model>/schema.json`` (FIWARE Smart Data Models, CC-BY-4.0),
follows the ``$ref``s into the common and domain schemas offline, and writes, per model, its
domain and each attribute's JSON-Schema type ("number", "integer", "string", "boolean",
"object", "array" or "" when the schema allows several).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "src" / "cityos" / "ingest" / "_sdm_attributes.py"
KEYWORDS = {"id", "type"}


def _load_ref(root: Path, ref: str, domain_dir: Path) -> dict[str, Any]:
    url, _, pointer = ref.partition("#")
    name = url.rsplit("/", 1)[-1]
    if name == "common-schema.json":
        doc = json.loads((root / "common-schema.json").read_text())
    elif name:
        candidates = list(root.glob(f"*/{name}"))
        doc = json.loads(candidates[0].read_text()) if candidates else {}
    else:
        doc = json.loads((domain_dir / "schema.json").read_text())
    for part in [p for p in pointer.split("/") if p]:
        doc = doc.get(part, {}) if isinstance(doc, dict) else {}
    return doc if isinstance(doc, dict) else {}


def _json_type(spec: dict[str, Any], root: Path, domain_dir: Path, depth: int = 0) -> str:
    if depth > 5:
        return ""
    if "$ref" in spec:
        return _json_type(_load_ref(root, spec["$ref"], domain_dir), root, domain_dir, depth + 1)
    kind = spec.get("type")
    if isinstance(kind, str):
        return kind
    for key in ("oneOf", "anyOf"):
        if key in spec:
            kinds = {_json_type(s, root, domain_dir, depth + 1) for s in spec[key]}
            return kinds.pop() if len(kinds) == 1 else ""
    return ""


def _properties(
    spec: dict[str, Any], root: Path, domain_dir: Path, depth: int = 0
) -> dict[str, str]:
    found: dict[str, str] = {}
    if depth > 6:
        return found
    if "$ref" in spec:
        found |= _properties(_load_ref(root, spec["$ref"], domain_dir), root, domain_dir, depth + 1)
    for key in ("allOf", "anyOf", "oneOf"):
        for part in spec.get(key, []):
            found |= _properties(part, root, domain_dir, depth + 1)
    for name, sub in spec.get("properties", {}).items():
        if name not in KEYWORDS and isinstance(sub, dict):
            found[name] = _json_type(sub, root, domain_dir)
    return found


def main(root: Path) -> None:
    """Write the attribute table of every model under ``root``."""
    models: dict[str, tuple[str, dict[str, str]]] = {}
    for schema in sorted(root.glob("dataModel.*/*/schema.json")):
        domain = schema.parent.parent.name.removeprefix("dataModel.")
        spec = json.loads(schema.read_text())
        models[schema.parent.name] = (domain, _properties(spec, root, schema.parent))
    lines = [
        '"""Smart Data Model attribute names and JSON types (generated; do not edit).',
        "",
        "Made by scripts/sdm_attributes.py from the FIWARE Smart Data Models JSON Schemas",
        "(https://smart-data-models.github.io, CC-BY-4.0). Model -> (domain, attribute -> JSON",
        'type; "" when the schema allows several types).',
        '"""',
        "",
        "MODELS: dict[str, tuple[str, dict[str, str]]] = {",
    ]
    for model, (domain, attrs) in models.items():
        lines.append(f"    {model!r}: (")
        lines.append(f"        {domain!r},")
        lines.append("        {")
        lines.extend(f"            {name!r}: {kind!r}," for name, kind in sorted(attrs.items()))
        lines.append("        },")
        lines.append("    ),")
    lines.append("}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines).replace("'", '"') + "\n", encoding="utf-8")
    print(f"{OUT}: {len(models)} models")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/smart-data-models"))
