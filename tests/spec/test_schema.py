from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from brainbench.spec.schema import SCHEMA_FILE, spec_json_schema, spec_json_schema_text

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_schema_equals_generated():
    shipped = (ROOT / SCHEMA_FILE).read_text()
    assert shipped == spec_json_schema_text(), (
        "spec/schema/brainbench-1.schema.json is stale: "
        "run `brainbench schema > spec/schema/brainbench-1.schema.json`"
    )


def test_every_field_has_a_description():
    schema = spec_json_schema()
    defs = schema["$defs"]

    def described(prop: dict) -> bool:
        if "description" in prop:
            return True
        ref = prop.get("$ref")
        return bool(ref) and "description" in defs[ref.split("/")[-1]]

    missing = []
    for owner, node in [("Spec", schema), *defs.items()]:
        for name, prop in node.get("properties", {}).items():
            if not described(prop):
                missing.append(f"{owner}.{name}")
    assert not missing


def test_shipped_specs_satisfy_the_json_schema():
    schema = json.loads((ROOT / SCHEMA_FILE).read_text())
    for path in sorted((ROOT / "spec" / "benchmarks").glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
