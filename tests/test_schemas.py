import json

from modelscreen.schemas.export import MODELS, SCHEMA_DIR, render


def test_exported_json_schemas_are_current():
    for name, model in MODELS.items():
        path = SCHEMA_DIR / f"{name}.schema.json"
        assert path.exists(), f"run `modelscreen schemas export` ({path.name} missing)"
        assert path.read_text() == render(model), f"run `modelscreen schemas export` ({path.name} stale)"
        json.loads(path.read_text())
