"""The entry schema: JSON Schema shipped, YAML errors located by line and column."""

from __future__ import annotations

import json

import pytest

from brainbench.errors import UserError
from brainbench.registry.entries import parse_entry, read_entry
from brainbench.registry.schema import ModelEntry, json_schema, json_schema_text, parse_version

from .conftest import MODEL_YAML, REFERENCE_IDS, REPO, write_entry


def test_shipped_json_schema_equals_generated():
    shipped = REPO / "spec" / "schema" / "model-1.schema.json"
    assert shipped.read_text() == json_schema_text(), (
        "regenerate with: brainbench registry schema > spec/schema/model-1.schema.json"
    )


def test_every_schema_property_has_a_description():
    schema = json_schema()

    def walk(node, where):
        for name, prop in node.get("properties", {}).items():
            assert prop.get("description"), f"{where}.{name} has no description"

    walk(schema, "ModelEntry")
    for name, definition in schema["$defs"].items():
        walk(definition, name)


def test_json_schema_rejects_unknown_keys_like_pydantic():
    jsonschema = pytest.importorskip("jsonschema")
    loaded = read_entry(REPO / "registry" / "models" / "cnn3d-small")
    data = loaded.entry.model_dump(mode="json", by_alias=True, exclude_none=True)
    jsonschema.validate(data, json_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data, "colour": "blue"}, json_schema())


@pytest.mark.parametrize("entry_id", REFERENCE_IDS)
def test_reference_entries_validate(entry_id):
    loaded = read_entry(REPO / "registry" / "models" / entry_id)
    assert loaded.entry.id == entry_id
    assert loaded.entry.pretraining.cohorts == []
    assert loaded.entry.license == "Apache-2.0"


def _yaml(**changes) -> str:
    base = MODEL_YAML.format(id="prior", version="1.0.0", license="MIT", entrypoint="model:build")
    for old, new in changes.items():
        assert old in base or old == "append"
        base = base + new if old == "append" else base.replace(old, new)
    return base


def _findings(tmp_path, text):
    folder = write_entry(tmp_path, yaml_text=text)
    loaded, findings = parse_entry(folder)
    assert loaded is None
    return findings


def _line_of(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


def test_unknown_key_names_line_column_and_suggests(tmp_path):
    text = _yaml(**{"  channels: 1": "  chanels: 1"})
    (f,) = _findings(tmp_path, text)
    assert f.rule == "R402"
    assert "unknown key 'chanels'" in f.message and "did you mean 'channels'" in f.message
    assert (f.line, f.column) == (_line_of(text, "chanels"), 3)
    assert f.file.endswith("model.yaml")


def test_wrong_value_names_its_line(tmp_path):
    text = _yaml(**{"spatial_shape: [6, 7, 5]": "spatial_shape: [6, 7]"})
    (f,) = _findings(tmp_path, text)
    assert f.path == "input.spatial_shape"
    assert f.line == _line_of(text, "spatial_shape")


def test_bad_version_and_bad_entrypoint(tmp_path):
    text = _yaml(**{"version: 1.0.0": "version: '1.0'", "model:build": "model.build"})
    findings = {f.path: f for f in _findings(tmp_path, text)}
    assert findings["version"].line == _line_of(text, "version:")
    assert "'1.0'" in findings["version"].message
    assert findings["entrypoint"].line == _line_of(text, "entrypoint:")


def test_nested_list_error_points_into_the_list(tmp_path):
    text = _yaml(**{"  - name: Test Author": "  - name: Test Author\n    orcid: nope"})
    (f,) = _findings(tmp_path, text)
    assert f.path == "authors[0].orcid"
    assert f.line == _line_of(text, "orcid")


def test_missing_license_and_training_data_have_their_own_rules(tmp_path):
    text = _yaml(**{"license: MIT\n": ""})
    text = text[: text.index("pretraining:")]
    rules = {f.rule: f for f in _findings(tmp_path, text)}
    assert "missing required field 'license'" in rules["R411"].message
    assert "missing required field 'pretraining'" in rules["R413"].message


def test_malformed_yaml_is_located(tmp_path):
    text = _yaml(**{"  unit: image": "  unit: [image"})
    (f,) = _findings(tmp_path, text)
    assert f.rule == "R401"
    assert f.message.startswith("not valid YAML")
    assert f.line is not None and f.line >= _line_of(text, "unit: [image")


def test_duplicate_key_is_an_error(tmp_path):
    text = _yaml(append="title: Again\n")
    (f,) = _findings(tmp_path, text)
    assert f.rule == "R401" and "duplicate key 'title'" in f.message
    assert f.line == len(text.splitlines())


def test_empty_file_and_non_mapping(tmp_path):
    assert "empty file" in _findings(tmp_path / "a", "")[0].message
    assert "got list" in _findings(tmp_path / "b", "- 1\n- 2\n")[0].message


def test_read_entry_raises_one_paragraph_user_error(tmp_path):
    folder = write_entry(tmp_path, yaml_text=_yaml(**{"  channels: 1": "  chanels: 1"}))
    with pytest.raises(UserError) as info:
        read_entry(folder)
    assert "model.yaml:" in info.value.message and "chanels" in info.value.message
    assert "\n" not in info.value.message


def test_torch_entry_needs_a_training_recipe(tmp_path):
    text = _yaml(**{"framework: sklearn": "framework: torch"})
    (f,) = _findings(tmp_path, text)
    assert "training" in f.message


def test_default_hyperparameters_flatten_recipe_and_defaults():
    loaded = read_entry(REPO / "registry" / "models" / "cnn3d-small")
    hp = loaded.entry.default_hyperparameters()
    assert hp["epochs"] == 30 and hp["patience"] == 5 and hp["optimiser"] == "adamw"
    assert hp["channels"] == [8, 16, 32, 64]
    assert hp["intensity_normalisation"] == "zscore-image"


def test_semver_ordering():
    assert parse_version("1.2.0") > parse_version("1.1.9")
    assert parse_version("1.0.0") > parse_version("1.0.0-rc.1")
    assert parse_version("1.0.0-rc.2") > parse_version("1.0.0-rc.1")
    with pytest.raises(ValueError):
        parse_version("1.0")


def test_schema_round_trip_is_json():
    loaded = read_entry(REPO / "registry" / "models" / "voxel-linear")
    data = json.loads(loaded.entry.model_dump_json(by_alias=True))
    assert ModelEntry.model_validate(data) == loaded.entry
