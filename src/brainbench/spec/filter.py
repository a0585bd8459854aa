"""The include filter: a small, safe expression language over cohort columns (never ``eval``).

Grammar (keywords are lower case)::

    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := operand [("==" | "!=" | "<" | "<=" | ">" | ">=") operand]
                | operand ["not"] "in" "[" literal ("," literal)* "]"
                | operand "is" ["not"] "missing"
    operand    := column | literal | "(" expr ")"
    literal    := number | 'string' | "string" | true | false

Example: ``diagnosis in ['CN', 'AD'] and age >= 55 and not site == 'S07'``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from brainbench.errors import UserError
from brainbench.registry_base import did_you_mean

if TYPE_CHECKING:
    import pandas as pd

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
      | (?P<string>'[^']*'|"[^"]*")
      | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
      | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)
_SPACE = re.compile(r"\s*")
_KEYWORDS = {"and", "or", "not", "in", "is", "missing", "true", "false"}
#: Limits of one filter: a filter is a line of a spec, not a program. 200,000 characters still
#: hold an explicit list of ten thousand subject ids.
MAX_FILTER_CHARS = 200_000
MAX_FILTER_DEPTH = 32  # nested parentheses and 'not's
_COMPARE = {"==", "!=", "<", "<=", ">", ">="}


class FilterError(UserError):
    """The filter text does not parse; ``position`` is the 0-based offset of the problem."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


@dataclass(frozen=True)
class _Tok:
    kind: str
    value: Any
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if _SPACE.match(text, pos).end() == len(text):  # type: ignore[union-attr]
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise FilterError(f"unexpected character {text[pos:].lstrip()[:1]!r}", pos)
        start = m.start(m.lastgroup) if m.lastgroup else pos
        kind = m.lastgroup or ""
        raw = m.group(kind)
        if kind == "number":
            value: Any = float(raw) if any(c in raw for c in ".eE") else int(raw)
        elif kind == "string":
            value = raw[1:-1]
        elif kind == "name" and raw in _KEYWORDS:
            kind, value = "kw", raw
        else:
            value = raw
        tokens.append(_Tok(kind, value, start))
        pos = m.end()
    tokens.append(_Tok("end", None, len(text)))
    return tokens


@dataclass(frozen=True)
class Column:
    name: str


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Compare:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class InList:
    operand: Any
    values: tuple[Any, ...]
    negate: bool


@dataclass(frozen=True)
class IsMissing:
    operand: Any
    negate: bool


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    parts: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    operand: Any


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    def nested(self, pos: int) -> None:
        """Count one more level of nesting; refuse a filter nested deeper than the limit."""
        self.depth += 1
        if self.depth > MAX_FILTER_DEPTH:
            raise FilterError(
                f"nested more than {MAX_FILTER_DEPTH} levels deep (parentheses and 'not'); "
                "write the condition flatter",
                pos,
            )

    def peek(self) -> _Tok:
        return self.tokens[self.i]

    def next(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def accept(self, kind: str, value: Any = None) -> _Tok | None:
        tok = self.peek()
        if tok.kind == kind and (value is None or tok.value == value):
            self.i += 1
            return tok
        return None

    def expect(self, kind: str, value: Any, what: str) -> _Tok:
        tok = self.accept(kind, value)
        if tok is None:
            found = self.peek()
            shown = "the end" if found.kind == "end" else repr(found.value)
            raise FilterError(f"expected {what}, found {shown}", found.pos)
        return tok

    def parse(self) -> Any:
        if self.peek().kind == "end":
            raise FilterError("the filter is empty", 0)
        node = self.or_expr()
        tok = self.peek()
        if tok.kind != "end":
            raise FilterError(f"unexpected {tok.value!r}; join conditions with and/or", tok.pos)
        return node

    def or_expr(self) -> Any:
        parts = [self.and_expr()]
        while self.accept("kw", "or"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else BoolOp("or", tuple(parts))

    def and_expr(self) -> Any:
        parts = [self.not_expr()]
        while self.accept("kw", "and"):
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))

    def not_expr(self) -> Any:
        tok = self.accept("kw", "not")
        if tok:
            self.nested(tok.pos)
            node = Not(self.not_expr())
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> Any:
        left = self.operand()
        tok = self.peek()
        if tok.kind == "op" and tok.value in _COMPARE:
            self.next()
            return Compare(tok.value, left, self.operand())
        if self.accept("kw", "is"):
            negate = self.accept("kw", "not") is not None
            self.expect("kw", "missing", "'missing' after 'is'")
            return IsMissing(left, negate)
        negate = False
        if tok.kind == "kw" and tok.value == "not" and self.tokens[self.i + 1].value == "in":
            self.next()
            negate = True
        if self.accept("kw", "in"):
            self.expect("op", "[", "'[' to start a list")
            values = [self.literal()]
            while self.accept("op", ","):
                values.append(self.literal())
            self.expect("op", "]", "']' to close the list")
            return InList(left, tuple(values), negate)
        return left

    def operand(self) -> Any:
        tok = self.peek()
        if self.accept("op", "("):
            self.nested(tok.pos)
            node = self.or_expr()
            self.expect("op", ")", "')'")
            self.depth -= 1
            return node
        if tok.kind == "name":
            self.next()
            return Column(tok.value)
        return Literal(self.literal())

    def literal(self) -> Any:
        tok = self.next()
        if tok.kind in ("number", "string"):
            return tok.value
        if tok.kind == "kw" and tok.value in ("true", "false"):
            return tok.value == "true"
        shown = "the end" if tok.kind == "end" else repr(tok.value)
        raise FilterError(f"expected a value (number or quoted text), found {shown}", tok.pos)


@dataclass(frozen=True)
class Filter:
    """A parsed include filter. ``mask(table)`` selects rows; ``columns`` lists the names used."""

    text: str
    tree: Any

    @property
    def columns(self) -> set[str]:
        found: set[str] = set()

        def walk(node: Any) -> None:
            if isinstance(node, Column):
                found.add(node.name)
            elif isinstance(node, Compare):
                walk(node.left)
                walk(node.right)
            elif isinstance(node, InList | IsMissing | Not):
                walk(node.operand)
            elif isinstance(node, BoolOp):
                for part in node.parts:
                    walk(part)

        walk(self.tree)
        return found

    def mask(self, table: pd.DataFrame, *, source: str = "the cohort") -> pd.Series:
        """Boolean mask of the rows of ``table`` that the filter keeps.

        A missing value compares false (and ``is missing`` finds it), as in SQL.
        """
        import pandas as pd

        missing = sorted(self.columns - set(map(str, table.columns)))
        if missing:
            name = missing[0]
            raise UserError(
                f"include filter '{self.text}': column '{name}' is not in {source}."
                f"{did_you_mean(name, [str(c) for c in table.columns])} "
                f"Columns: {', '.join(map(str, table.columns))}."
            )
        result = _evaluate(self.tree, table, self.text)
        if not isinstance(result, pd.Series):
            result = pd.Series(bool(result), index=table.index)
        return result.fillna(False).astype(bool)


def _evaluate(node: Any, table: pd.DataFrame, text: str) -> Any:
    import pandas as pd

    if isinstance(node, Column):
        return table[node.name]
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Not):
        return ~_as_bool(_evaluate(node.operand, table, text), table)
    if isinstance(node, BoolOp):
        parts = [_as_bool(_evaluate(p, table, text), table) for p in node.parts]
        out = parts[0]
        for part in parts[1:]:
            out = (out & part) if node.op == "and" else (out | part)
        return out
    if isinstance(node, IsMissing):
        value = _evaluate(node.operand, table, text)
        isna = value.isna() if isinstance(value, pd.Series) else pd.Series(value is None)
        return ~isna if node.negate else isna
    if isinstance(node, InList):
        value = _evaluate(node.operand, table, text)
        hit = _isin(value, node.values)
        return ~hit & value.notna() if node.negate else hit
    if isinstance(node, Compare):
        left = _evaluate(node.left, table, text)
        right = _evaluate(node.right, table, text)
        try:
            left, right = _coerce(left, right)
            return {
                "==": lambda: left == right,
                "!=": lambda: (left != right) & _notna(left) & _notna(right),
                "<": lambda: left < right,
                "<=": lambda: left <= right,
                ">": lambda: left > right,
                ">=": lambda: left >= right,
            }[node.op]()
        except TypeError:
            raise UserError(
                f"include filter '{text}': cannot compare {_describe(node.left)} with "
                f"{_describe(node.right)} using '{node.op}' (text against a number?)."
            ) from None
    raise AssertionError(f"unknown filter node {node!r}")  # a bug, not a user error


def _notna(value: Any) -> Any:
    import pandas as pd

    return value.notna() if isinstance(value, pd.Series) else value is not None


def _isin(value: Any, values: tuple[Any, ...]) -> Any:
    import pandas as pd

    if isinstance(value, pd.Series):
        as_text = value.astype("string")
        return as_text.isin([str(v) for v in values]).fillna(False).astype(bool)
    return value in values


def _coerce(left: Any, right: Any) -> tuple[Any, Any]:
    """Compare a text column with a number numerically when the column parses as numbers."""
    import pandas as pd

    for a, b, swap in ((left, right, False), (right, left, True)):
        if isinstance(a, pd.Series) and isinstance(b, int | float) and not isinstance(b, bool):
            if not pd.api.types.is_numeric_dtype(a):
                converted = pd.to_numeric(a, errors="coerce")
                if converted.notna().sum() < a.notna().sum():
                    raise TypeError
                a = converted
            return (b, a) if swap else (a, b)
        if isinstance(a, pd.Series) and isinstance(b, str) and pd.api.types.is_numeric_dtype(a):
            a = a.astype("string")
            return (b, a) if swap else (a, b)
    return left, right


def _as_bool(value: Any, table: pd.DataFrame) -> Any:
    import pandas as pd

    if isinstance(value, pd.Series):
        return value.fillna(False).astype(bool)
    return pd.Series(bool(value), index=table.index)


def _describe(node: Any) -> str:
    if isinstance(node, Column):
        return f"column '{node.name}'"
    if isinstance(node, Literal):
        return repr(node.value)
    return "an expression"


def parse_filter(text: str) -> Filter:
    """Parse an include filter; raises :class:`FilterError` (a UserError) naming the position."""
    if not isinstance(text, str):
        raise FilterError("the filter must be text", 0)
    if len(text) > MAX_FILTER_CHARS:
        raise FilterError(
            f"the include filter has {len(text)} characters (limit {MAX_FILTER_CHARS}); "
            "filter on a column (e.g. a 'keep' column in the cohort table) instead",
            0,
        )
    try:
        tree = _Parser(text).parse()
    except FilterError as exc:
        # show at most 60 characters either side, so a long filter gives a short message
        start = max(0, exc.position - 60)
        lead = "..." if start else ""
        shown = lead + text[start : exc.position + 60].replace("\n", " ")
        pointer = f"{shown}\n{' ' * (len(lead) + exc.position - start)}^"
        raise FilterError(
            f"include filter does not parse at character {exc.position + 1}: {exc.message}\n"
            f"{pointer}",
            exc.position,
        ) from None
    return Filter(text, tree)
