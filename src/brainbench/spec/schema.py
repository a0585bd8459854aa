"""The JSON Schema of the spec language, generated from the pydantic models."""

from __future__ import annotations

import json
from typing import Any

from brainbench.spec.models import Spec

SCHEMA_FILE = "spec/schema/brainbench-1.schema.json"


def spec_json_schema() -> dict[str, Any]:
    schema = Spec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def spec_json_schema_text() -> str:
    return json.dumps(spec_json_schema(), indent=2, sort_keys=True) + "\n"
