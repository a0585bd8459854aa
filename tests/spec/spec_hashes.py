"""The sha256 of every shipped spec (``spec/**/*.yaml``) as run folders and sheets record it.

``tests/spec/golden/spec-hashes.json`` keeps, per spec file, the sha256 of its bytes and of the
files it extends (``sources``) and the spec's hash (``spec_sha256``,
:attr:`brainbench.spec.LoadedSpec.sha256`). While the sources are unchanged the hash must be
too: a change of the models' dump (a new field, a serializer) would void every recorded run.
Refresh with ``python -m tests.spec.spec_hashes``: it adds the specs the file lacks and updates
those whose sources changed (a new spec version), never a hash of unchanged sources.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden" / "spec-hashes.json"


def shipped_specs() -> list[Path]:
    return sorted((ROOT / "spec").rglob("*.yaml"))


def entry(path: Path) -> dict[str, str] | None:
    """``sources`` and ``spec_sha256`` of one spec file; None for a file that is no valid spec
    (a leaky example may be refused by the schema)."""
    from brainbench.errors import UserError
    from brainbench.spec import load_spec

    try:
        loaded = load_spec(path)
    except UserError:
        return None
    sources = hashlib.sha256()
    for part in loaded.files:
        sources.update(hashlib.sha256(Path(part).read_bytes()).digest())
    return {"sources": sources.hexdigest(), "spec_sha256": loaded.sha256}


def read_golden() -> dict[str, dict[str, str]]:
    return json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {}


def refresh() -> list[str]:
    """Add missing specs and those whose sources changed; the names changed."""
    golden, changed = read_golden(), []
    for path in shipped_specs():
        name = path.relative_to(ROOT).as_posix()
        got = entry(path)
        old = golden.get(name)
        if got is not None and (old is None or old["sources"] != got["sources"]):
            golden[name] = got
            changed.append(name)
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(dict(sorted(golden.items())), indent=2) + "\n")
    return changed


if __name__ == "__main__":
    print("\n".join(refresh()) or "no change")
