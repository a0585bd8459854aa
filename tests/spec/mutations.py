"""Hostile spec files for fuzzing ``brainbench validate`` (tests and benchmarks/robustness).

:func:`make_case` turns a :class:`random.Random` into one case: a few files (the spec to
validate, files it may extend), environment variables and the arguments of ``validate``. The
property tests draw the Random from hypothesis (``st.randoms``), so failures shrink and replay;
the benchmark script draws 10,000 cases from seeded Randoms. :func:`run_case` runs a case
through the CLI entry point in this process and :func:`problems` says what is wrong with the
outcome (a clean outcome has none).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASE = (ROOT / "spec" / "examples" / "sound-base.yaml").read_text()
LEAKY = sorted((ROOT / "spec" / "examples" / "leaky").glob("*.yaml"))

#: Keys that meant something to Python, pydantic, YAML or brainbench itself.
RESERVED = [
    "int", "str", "float", "bool", "list", "dict", "None", "null", "~", "true", "yes", "on",
    "<<", "extends", "brainbench", "list[str]", "dict[str, int]", "__class__", "__init__",
    "model_config", "model_fields", "0", "-1", "1e3", "?", "-", "'*'", "\"&a\"", "constructor",
    "self", "type", "id", "task", "cohorts", "splits", "waivers", "include", "source", "path",
]  # fmt: skip
VALUES = [
    "1", "x", "[]", "{}", "null", "~", "2024-13-45", "2024-01-01", "1e999", "-.inf", ".nan",
    "0x1F", "0o17", "!!binary aGk=", "!!str 3", "!!int x", "!!float y", "'${X}'", "\"\\e\"",
    "[[[[[]]]]]", "{a: {b: {c: {}}}}", "&a [1, 2]", "*a", "yes", "'a\\tb'", "|\n  text",
    ">-\n  folded", "!!python/object:os.system ls", "!!set {a, b}", "!!omap [a: 1]",
]  # fmt: skip
#: Values that cost seconds to refuse: the benchmark draws them, the suite's budget does not.
HEAVY_VALUES = ["[" + "1, " * 120_000 + "1]"]  # more values than the loader accepts (360 kB)
BAD_BYTES = [
    b"\x00", b"\x01", b"\x07", b"\x08", b"\x0b", b"\x0c", b"\x1b", b"\x7f", b"\xc2\x85",
    b"\xef\xbb\xbf", b"\xff", b"\xfe", b"\xc3", b"\xe2\x80", b"\xed\xa0\x80", b"\t", b"\r",
    b"\r\n", b"\n", b"'", b'"', b"{", b"[", b"&", b"*", b"!", b"%", b"@", b"`", b"|", b">",
    b"#", b"---\n", b"...\n", b": ", b"- ", b"? ", b"<<: *x\n",
]  # fmt: skip
ENV_FORMS = [
    "${{{v}}}", "${{{v}:-}}", "${{{v}:-default}}", "${{}}", "${{{v}", "$${{{v}}}",
    "${{{v}:-${{{v}}}}}", "${{{v}:-a}}/${{{v}}}", "${{ {v} }}", "$" + "{v}",
]  # fmt: skip
ENV_VALUES = ["", "x", "/", "..", "a" * 300, "../" * 50, "/dev/zero", "~", "${X}", "é", "a\nb"]


@dataclass
class Case:
    """Files to write (name -> bytes), environment, ``validate`` arguments and what it is."""

    kind: str
    heavy: bool = False  # may draw HEAVY_VALUES
    files: dict[str, bytes] = field(default_factory=dict)
    env: dict[str, str | None] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)  # file names (relative) and options
    specials: dict[str, str] = field(default_factory=dict)  # name -> "fifo" | "dir" | "sparse"

    @property
    def targets(self) -> list[str]:
        """The spec files validated (options and the value of --against left out)."""
        out, skip = [], False
        for arg in self.args:
            if skip:
                skip = False
            elif arg in ("--against", "--format"):
                skip = True
            elif not arg.startswith("-"):
                out.append(arg)
        return out


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _mutate_bytes(rng: random.Random, raw: bytes) -> bytes:
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(raw))
        op = rng.choice(["insert", "insert", "delete", "truncate", "repeat", "flip"])
        if op == "insert":
            raw = raw[:at] + rng.choice(BAD_BYTES) * rng.choice([1, 1, 2, 50]) + raw[at:]
        elif op == "delete":
            raw = raw[:at] + raw[at + rng.randint(1, 40) :]
        elif op == "truncate":
            raw = raw[:at]
        elif op == "repeat":
            end = min(len(raw), at + rng.randint(1, 200))
            raw = raw[:at] + raw[at:end] * rng.randint(2, 30) + raw[end:]
        elif raw:
            i = rng.randrange(len(raw))
            raw = raw[:i] + bytes([raw[i] ^ (1 << rng.randrange(8))]) + raw[i + 1 :]
    return raw


def _insert_key(rng: random.Random, text: str, key: str, value: str) -> str:
    """Add ``key: value`` at the top level or inside a block mapping of ``text``."""
    lines = _lines(text)
    parents = [i for i, line in enumerate(lines) if line.rstrip().endswith(":")]
    if parents and rng.random() < 0.5:
        i = rng.choice(parents)
        indent = len(lines[i]) - len(lines[i].lstrip()) + 2
        value = value.replace("\n", "\n" + " " * (indent + 2))
        lines.insert(i + 1, f"{' ' * indent}{key}: {value}\n")
    else:
        lines.insert(rng.randint(1, len(lines)), f"{key}: {value}\n")
    return "".join(lines)


def _reserved_keys(rng: random.Random, case: Case) -> None:
    text = BASE
    values = VALUES + HEAVY_VALUES if case.heavy else VALUES
    for _ in range(rng.randint(1, 3)):
        text = _insert_key(rng, text, rng.choice(RESERVED), rng.choice(values))
    case.files["spec.yaml"] = text.encode()
    case.args = ["spec.yaml"]


def _piece(rng: random.Random) -> str:
    """A small spec fragment that a file in an extends chain may hold."""
    return rng.choice(
        [
            "splits:\n  seed: 2\n",
            "splits: [1, 2]\n",
            "task:\n  classes: [A, B]\n",
            "task: null\n",
            "protocol:\n  seeds: 1\n",
            "cohorts: []\n",
            "brainbench: 2\n",
            "id: x\n",
            "int: 1\n",
            "waivers:\n  - {rule: S203, reason: r}\n",
            "",
            "- a\n- b\n",
            "just text\n",
            "{a: 1}\n",
        ]
    )


def _extends_chain(rng: random.Random, case: Case) -> None:
    n = rng.randint(1, 5)
    names = [f"p{i}.yaml" for i in range(n)]
    for i, name in enumerate(names):
        parents: list[str] = []
        if i + 1 < n:
            parents.append(names[i + 1])
        roll = rng.random()
        if roll < 0.15:
            parents.append(rng.choice(names))  # a cycle, or a diamond
        elif roll < 0.25:
            parents.append(rng.choice(["missing.yaml", "a" * 300 + ".yaml", "sub", "fifo.yaml"]))
        elif roll < 0.3:
            parents.append(rng.choice(["/dev/zero", "/dev/null", "/", "sparse.yaml", "big.yaml"]))
        elif roll < 0.35:
            parents = parents * rng.randint(2, 20)
        body = BASE if i == n - 1 and rng.random() < 0.7 else _piece(rng)
        head = ""
        if parents:
            form = rng.random()
            if form < 0.5:
                head = f"extends: [{', '.join(parents)}]\n"
            elif form < 0.7:
                head = f"extends: {parents[0]}\n"
            elif form < 0.8:
                head = f"extends: {rng.choice(VALUES)}\n"
            else:
                head = "extends:\n" + "".join(f"  - {p}\n" for p in parents)
        text = head + body
        if rng.random() < 0.2:
            case.files[name] = _mutate_bytes(rng, text.encode())
        else:
            case.files[name] = text.encode()
    case.specials.update({"sub": "dir", "fifo.yaml": "fifo", "sparse.yaml": "sparse"})
    case.files["big.yaml"] = b"id: x\n" + b"# padding\n" * 10_000
    case.args = [names[0]]


def _env_expansion(rng: random.Random, case: Case) -> None:
    var = rng.choice(["BB_FUZZ_A", "BB_FUZZ_B", "HOME", "1BAD", "A-B", ""])
    form = rng.choice(ENV_FORMS).format(v=var)
    text = BASE
    where = rng.random()
    if where < 0.4:
        text = text.replace("  seed: 1", f'  seed: 1\n  file: {{path: "{form}/s.tsv"}}')
    elif where < 0.7:
        text = text.replace('"${BRAINBENCH_DATA:-data}/dev"', f'"{form}"')
    else:
        text = f'extends: "{form}"\n' + text
    case.files["spec.yaml"] = text.encode()
    for name in ("BB_FUZZ_A", "BB_FUZZ_B"):
        case.env[name] = rng.choice([None, *ENV_VALUES])
    case.args = ["spec.yaml"]


def _bytes(rng: random.Random, case: Case) -> None:
    source = BASE.encode() if rng.random() < 0.7 else rng.choice(LEAKY).read_bytes()
    case.files["spec.yaml"] = _mutate_bytes(rng, source)
    case.args = ["spec.yaml"]


def _filters(rng: random.Random, case: Case) -> None:
    atoms = [
        "age > 1", "site == 'a'", "x in [1, 2]", "y is missing", "not z", "(", ")", "and",
        "or", "not", "in", "[", "]", "'", "\"", "1e400", "-", "age", "==", "<=", "@",
    ]  # fmt: skip
    text = " ".join(rng.choice(atoms) for _ in range(rng.randint(0, 40)))
    if rng.random() < 0.2:
        text = "(" * rng.randint(30, 3000) + "age > 1" + ")" * rng.randint(0, 3000)
    elif rng.random() < 0.1:
        text = " or ".join(f"age == {i}" for i in range(rng.randint(1000, 30_000)))
    quoted = json.dumps(text)
    spec = BASE.replace("role: development", f"role: development\n    include: {quoted}")
    case.files["spec.yaml"] = spec.encode()
    case.args = ["spec.yaml"]


def _batch(rng: random.Random, case: Case) -> None:
    names = []
    for i in range(rng.randint(2, 4)):
        sub = Case(kind="sub", heavy=case.heavy)
        rng.choice(KINDS_ONE_FILE)(rng, sub)
        for name, raw in sub.files.items():
            case.files[f"b{i}-{name}"] = raw
        case.env.update(sub.env)
        names.append(f"b{i}-{sub.args[0]}")
    case.args = names
    if rng.random() < 0.3:
        case.args = [*names, "--against", rng.choice(names)]


KINDS_ONE_FILE: list[Callable[[random.Random, Case], None]] = [
    _bytes,
    _reserved_keys,
    _env_expansion,
    _filters,
]
KINDS: dict[str, Callable[[random.Random, Case], None]] = {
    "bytes": _bytes,
    "reserved-keys": _reserved_keys,
    "extends": _extends_chain,
    "env": _env_expansion,
    "filter": _filters,
    "batch": _batch,
}


def make_case(rng: random.Random, kind: str | None = None, *, heavy: bool = False) -> Case:
    kind = kind or rng.choice(list(KINDS))
    case = Case(kind=kind, heavy=heavy)
    KINDS[kind](rng, case)
    if rng.random() < 0.3:
        case.args.insert(0, "--format=json")
    else:
        case.args = ["--format", "json", *case.args]
    return case


def write_case(case: Case, folder: Path) -> None:
    for name, raw in case.files.items():
        (folder / name).write_bytes(raw)
    for name, kind in case.specials.items():
        path = folder / name
        if kind == "dir":
            path.mkdir()
        elif kind == "fifo" and hasattr(os, "mkfifo"):
            os.mkfifo(path)
        elif kind == "sparse":
            with open(path, "wb") as fh:
                fh.truncate(3 * 2**30)  # 3 GiB of size, no disk


@contextlib.contextmanager
def _environment(env: dict[str, str | None], cwd: Path) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    old_cwd = Path.cwd()
    try:
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        os.chdir(cwd)
        yield
    finally:
        os.chdir(old_cwd)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class Outcome:
    status: int
    stdout: str
    stderr: str
    seconds: float


def run_case(case: Case, folder: Path) -> Outcome:
    """Write the case into ``folder`` and run ``brainbench validate`` on it in this process."""
    from brainbench.cli import main

    write_case(case, folder)
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    status = None
    with (
        _environment(case.env, folder),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            main(["validate", *case.args])
        except SystemExit as exc:
            status = exc.code
    seconds = time.perf_counter() - start
    code = status if isinstance(status, int) else -1
    return Outcome(code, out.getvalue(), err.getvalue(), seconds)


def problems(case: Case, outcome: Outcome) -> list[str]:
    """What is wrong with an outcome: a traceback, an unclean status, a batch missing results."""
    found = []
    if outcome.status not in (0, 1, 2):
        found.append(f"exit status {outcome.status}: {outcome.stderr.strip()[:300]}")
    if "Traceback" in outcome.stdout + outcome.stderr:
        found.append("a traceback was printed")
    try:
        data = json.loads(outcome.stdout)
    except ValueError:
        found.append(f"no JSON on stdout (stderr: {outcome.stderr.strip()[:200]})")
        return found
    results = data.get("results", [])
    if len(results) != len(case.targets):
        found.append(f"{len(results)} results for {len(case.targets)} files")
    expected = max([r["exit_code"] for r in results], default=0)
    if data.get("exit_code") != outcome.status or expected != outcome.status:
        found.append(f"exit status {outcome.status}, JSON says {data.get('exit_code')}")
    for result in results:
        for finding in result["findings"]:
            size = len(finding["message"])
            if not size or size > 5_000:
                found.append(f"finding {finding['rule']} has a message of {size} characters")
    return found
