"""The emulator's SOQL front end: tokens, the AST and the parser, with the errors parsing raises.

`parse()` handles SELECT field lists (dotted parent paths, FIELDS(ALL|STANDARD|CUSTOM),
COUNT()/COUNT(x)/COUNT_DISTINCT/MIN/MAX/SUM/AVG with aliases, parent-to-child subqueries), FROM,
WHERE (AND/OR/NOT, parentheses, = != <> < <= > >=, IN/NOT IN with lists or semi-join subqueries,
LIKE, INCLUDES/EXCLUDES, null, booleans, numbers, quoted strings with escapes, date and datetime
literals, TODAY/LAST_N_DAYS:n-style date literals), GROUP BY, ORDER BY (ASC/DESC, NULLS FIRST/LAST),
LIMIT and OFFSET. Keywords, object and field names are case-insensitive. `OrgError` (a Salesforce
error code and text) and Salesforce's "ERROR at Row:r:Column:c" framing live here because parsing
is where most of them start; the compiler in `soql_compiler` raises them too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any


class OrgError(Exception):
    """A Salesforce error the server turns into a response: body `[{"message": ..., "errorCode": ...}]`."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(f"{error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message

    def body(self) -> list[dict[str, str]]:
        return [{"message": self.message, "errorCode": self.error_code}]


def located(soql: str, pos: int, text: str) -> str:
    """Salesforce's "ERROR at Row:r:Column:c" framing, quoting the offending line with a caret."""
    before = soql[:pos]
    row = before.count("\n") + 1
    line_start = before.rfind("\n") + 1
    col = pos - line_start + 1
    line_end = soql.find("\n", pos)
    line = soql[line_start : line_end if line_end >= 0 else len(soql)]
    return f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n{text}"


def malformed(soql: str, pos: int, text: str) -> OrgError:
    return OrgError(400, "MALFORMED_QUERY", located(soql, pos, text))


# -- tokens --------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
    |(?P<string>'(?:[^'\\]|\\.)*')
    |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
    |(?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
    |(?P<number>[+-]?(?:\d+\.\d*|\.\d+|\d+)(?![\w.]))
    |(?P<ident>[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*(?::\d+)?)
    |(?P<op><=|>=|!=|<>|=|<|>)
    |(?P<punct>[(),])""",
    re.VERBOSE,
)
_ESCAPES = {
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
    "%": "\\%",
    "_": "\\_",
}


@dataclass(frozen=True)
class Token:
    kind: str  # string datetime date number ident op punct eof
    text: str
    pos: int
    value: Any = None

    @property
    def upper(self) -> str:
        return self.text.upper()


def tokenize(soql: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(soql):
        m = _TOKEN.match(soql, pos)
        if not m:
            raise malformed(soql, pos, f"unexpected token: '{soql[pos]}'")
        kind = m.lastgroup or ""
        text = m.group()
        if kind == "string":
            tokens.append(Token(kind, text, pos, _unescape(soql, pos, text[1:-1])))
        elif kind == "number":
            tokens.append(Token(kind, text, pos, float(text) if "." in text else int(text)))
        elif kind != "ws":
            tokens.append(Token(kind, text, pos))
        pos = m.end()
    tokens.append(Token("eof", "<EOF>", len(soql)))
    return tokens


def _unescape(soql: str, pos: int, raw: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\":
            nxt = raw[i + 1]
            if nxt not in _ESCAPES:
                raise malformed(
                    soql,
                    pos + i + 1,
                    "Invalid string literal '" + raw + "'. Illegal character "
                    "sequence '\\" + nxt + "' in string literal.",
                )
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


# -- AST -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldPath:
    """A field as written: `Name`, `Owner.Name`, `Account.Owner.Email`."""

    parts: tuple[str, ...]
    pos: int

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Literal:
    kind: str  # string number boolean null date datetime dateliteral
    value: Any
    pos: int
    text: str


@dataclass(frozen=True)
class Comparison:
    field: FieldPath
    op: str  # = != < <= > >= IN NOT IN LIKE INCLUDES EXCLUDES
    value: Literal | tuple[Literal, ...] | Query
    pos: int


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND OR NOT
    operands: tuple[Condition, ...]


Condition = Comparison | BoolOp


@dataclass(frozen=True)
class SelectItem:
    kind: str  # field count_all aggregate subquery
    path: FieldPath | None = None
    func: str | None = None  # COUNT MIN MAX SUM AVG COUNT_DISTINCT
    alias: str | None = None
    subquery: Query | None = None
    pos: int = 0
    text: str = ""


@dataclass
class Query:
    select: list[SelectItem]
    object_name: str
    object_pos: int
    where: Condition | None = None
    group_by: list[FieldPath] = field(default_factory=list)
    order_by: list[tuple[FieldPath, bool, str | None]] = field(default_factory=list)  # path, desc, nulls
    limit: int | None = None
    offset: int | None = None
    soql: str = ""

    @property
    def is_count(self) -> bool:
        return len(self.select) == 1 and self.select[0].kind == "count_all"

    @property
    def is_aggregate(self) -> bool:
        return any(i.kind == "aggregate" for i in self.select) or bool(self.group_by)


_AGGREGATES = frozenset({"COUNT", "COUNT_DISTINCT", "MIN", "MAX", "SUM", "AVG"})
_CLAUSE_WORDS = frozenset(
    {"FROM", "WHERE", "GROUP", "ORDER", "LIMIT", "OFFSET", "WITH", "FOR", "HAVING", "USING"}
)


class _Parser:
    def __init__(self, soql: str, tokens: list[Token], start: int = 0) -> None:
        self.soql = soql
        self.tokens = tokens
        self.i = start

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def error(self, tok: Token | None = None) -> OrgError:
        t = tok or self.tok
        return malformed(self.soql, t.pos, f"unexpected token: '{t.text}'")

    def is_word(self, *words: str) -> bool:
        return self.tok.kind == "ident" and self.tok.upper in words

    def expect_word(self, word: str) -> Token:
        if not self.is_word(word):
            raise self.error()
        return self.take()

    def expect_punct(self, text: str) -> Token:
        if self.tok.text != text or self.tok.kind != "punct":
            raise self.error()
        return self.take()

    def query(self) -> Query:
        self.expect_word("SELECT")
        items = [self.select_item()]
        while self.tok.text == ",":
            self.take()
            items.append(self.select_item())
        self.expect_word("FROM")
        obj = self.take()
        if obj.kind != "ident" or "." in obj.text:
            raise self.error(obj)
        q = Query(items, obj.text, obj.pos, soql=self.soql)
        if self.tok.kind == "ident" and self.tok.upper not in _CLAUSE_WORDS:
            self.take()  # an object alias: FROM Account a
        if self.is_word("USING"):  # USING SCOPE everything|mine|...: every record is visible here
            self.take()
            self.expect_word("SCOPE")
            self.take()
        if self.is_word("WHERE"):
            self.take()
            q.where = self.condition()
        if self.is_word("WITH"):  # WITH SECURITY_ENFORCED / USER_MODE / SYSTEM_MODE: no sharing model here
            self.take()
            if not self.is_word("SECURITY_ENFORCED", "USER_MODE", "SYSTEM_MODE"):
                raise self.error()
            self.take()
        if self.is_word("GROUP"):
            self.take()
            self.expect_word("BY")
            q.group_by.append(self.path())
            while self.tok.text == ",":
                self.take()
                q.group_by.append(self.path())
        if self.is_word("ORDER"):
            self.take()
            self.expect_word("BY")
            q.order_by.append(self.order_item())
            while self.tok.text == ",":
                self.take()
                q.order_by.append(self.order_item())
        if self.is_word("LIMIT"):
            self.take()
            q.limit = self.integer()
        if self.is_word("OFFSET"):
            self.take()
            q.offset = self.integer()
        if self.is_word("FOR"):  # FOR VIEW / FOR REFERENCE / FOR UPDATE: accepted, no effect
            self.take()
            if not self.is_word("VIEW", "REFERENCE", "UPDATE"):
                raise self.error()
            self.take()
        return q

    def integer(self) -> int:
        t = self.take()
        if t.kind != "number" or not isinstance(t.value, int) or t.value < 0:
            raise self.error(t)
        return int(t.value)

    def path(self) -> FieldPath:
        t = self.take()
        if t.kind != "ident" or ":" in t.text:
            raise self.error(t)
        return FieldPath(tuple(t.text.split(".")), t.pos)

    def select_item(self) -> SelectItem:
        t = self.tok
        if t.kind == "ident" and t.upper == "FIELDS" and self.tokens[self.i + 1].text == "(":
            self.take()
            self.take()
            if not self.is_word("ALL", "STANDARD", "CUSTOM"):
                raise self.error()
            group = self.take().upper
            self.expect_punct(")")
            return SelectItem("fields", func=group, pos=t.pos, text=f"FIELDS({group})")
        if t.text == "(":
            self.take()
            sub = self.query()
            self.expect_punct(")")
            return SelectItem("subquery", subquery=sub, pos=t.pos, text=sub.object_name)
        if t.kind == "ident" and t.upper in _AGGREGATES and self.tokens[self.i + 1].text == "(":
            self.take()
            self.take()
            if self.tok.text == ")":
                if t.upper != "COUNT":
                    raise self.error()
                self.take()
                return SelectItem("count_all", func="COUNT", pos=t.pos, text="COUNT()")
            path = self.path()
            self.expect_punct(")")
            alias = None
            if self.tok.kind == "ident" and self.tok.upper not in _CLAUSE_WORDS:
                alias = self.take().text
            return SelectItem(
                "aggregate", path=path, func=t.upper, alias=alias, pos=t.pos, text=f"{t.upper}({path.text})"
            )
        if t.kind == "ident" and t.upper in _CLAUSE_WORDS:
            raise self.error()
        path = self.path()
        return SelectItem("field", path=path, pos=path.pos, text=path.text)

    def order_item(self) -> tuple[FieldPath, bool, str | None]:
        path = self.path()
        desc = False
        if self.is_word("ASC", "DESC"):
            desc = self.take().upper == "DESC"
        nulls = None
        if self.is_word("NULLS"):
            self.take()
            if not self.is_word("FIRST", "LAST"):
                raise self.error()
            nulls = self.take().upper
        return path, desc, nulls

    def condition(self) -> Condition:
        left = self.conjunction()
        operands = [left]
        while self.is_word("OR"):
            self.take()
            operands.append(self.conjunction())
        return left if len(operands) == 1 else BoolOp("OR", tuple(operands))

    def conjunction(self) -> Condition:
        left = self.negation()
        operands = [left]
        while self.is_word("AND"):
            self.take()
            operands.append(self.negation())
        return left if len(operands) == 1 else BoolOp("AND", tuple(operands))

    def negation(self) -> Condition:
        if self.is_word("NOT"):
            self.take()
            return BoolOp("NOT", (self.negation(),))
        if self.tok.text == "(":
            self.take()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        path = self.path()
        t = self.tok
        if t.kind == "op":
            self.take()
            op = "!=" if t.text == "<>" else t.text
            return Comparison(path, op, self.literal(), t.pos)
        if self.is_word("NOT"):
            self.take()
            self.expect_word("IN")
            return Comparison(path, "NOT IN", self.literal_list(), t.pos)
        if self.is_word("IN", "INCLUDES", "EXCLUDES"):
            op = self.take().upper
            return Comparison(path, op, self.literal_list(), t.pos)
        if self.is_word("LIKE"):
            self.take()
            return Comparison(path, "LIKE", self.literal(), t.pos)
        raise self.error()

    def literal_list(self) -> tuple[Literal, ...] | Query:
        self.expect_punct("(")
        if self.is_word("SELECT"):  # a semi-join: Id IN (SELECT AccountId FROM Contact)
            sub = self.query()
            self.expect_punct(")")
            return sub
        values = [self.literal()]
        while self.tok.text == ",":
            self.take()
            values.append(self.literal())
        self.expect_punct(")")
        return tuple(values)

    def literal(self) -> Literal:
        t = self.take()
        if t.kind == "string":
            return Literal("string", t.value, t.pos, t.text)
        if t.kind == "number":
            return Literal("number", t.value, t.pos, t.text)
        if t.kind == "date":
            return Literal("date", date.fromisoformat(t.text), t.pos, t.text)
        if t.kind == "datetime":
            return Literal("datetime", parse_datetime(t.text), t.pos, t.text)
        if t.kind == "ident":
            word = t.upper
            if word in ("TRUE", "FALSE"):
                return Literal("boolean", word == "TRUE", t.pos, t.text)
            if word == "NULL":
                return Literal("null", None, t.pos, t.text)
            if word.split(":")[0] in _DATE_LITERALS:
                return Literal("dateliteral", word, t.pos, t.text)
        raise self.error(t)


_DATE_LITERALS = frozenset(
    {
        "TODAY",
        "YESTERDAY",
        "TOMORROW",
        "LAST_N_DAYS",
        "NEXT_N_DAYS",
        "LAST_WEEK",
        "THIS_WEEK",
        "LAST_MONTH",
        "THIS_MONTH",
        "THIS_YEAR",
        "LAST_YEAR",
    }
)


def date_literal_range(word: str, today: date) -> tuple[date, date]:
    """[start, end) dates of a SOQL date literal such as TODAY or LAST_N_DAYS:30."""
    name, _, n_text = word.partition(":")
    n = int(n_text or 0)
    if name == "TODAY":
        return today, today + timedelta(days=1)
    if name == "YESTERDAY":
        return today - timedelta(days=1), today
    if name == "TOMORROW":
        return today + timedelta(days=1), today + timedelta(days=2)
    if name == "LAST_N_DAYS":
        return today - timedelta(days=n), today + timedelta(days=1)
    if name == "NEXT_N_DAYS":
        return today + timedelta(days=1), today + timedelta(days=n + 1)
    if name in ("THIS_WEEK", "LAST_WEEK"):
        start = today - timedelta(days=(today.weekday() + 1) % 7)
        if name == "LAST_WEEK":
            start -= timedelta(days=7)
        return start, start + timedelta(days=7)
    if name in ("THIS_MONTH", "LAST_MONTH"):
        first = today.replace(day=1)
        if name == "LAST_MONTH":
            first = (first - timedelta(days=1)).replace(day=1)
        nxt = (first + timedelta(days=32)).replace(day=1)
        return first, nxt
    year = today.year - (1 if name == "LAST_YEAR" else 0)
    return date(year, 1, 1), date(year + 1, 1, 1)


def parse_datetime(text: str) -> datetime:
    """A SOQL/REST datetime (`2024-01-01T00:00:00Z`, `...000+0000`, `...+01:00`) as aware UTC."""
    s = text.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    elif re.search(r"[+-]\d{4}$", s):
        s = s[:-2] + ":" + s[-2:]
    value = datetime.fromisoformat(s)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse(soql: str) -> Query:
    """Parse one SOQL statement; MALFORMED_QUERY (with Salesforce's framing) when it is not valid."""
    if len(soql) > 100_000:
        raise OrgError(400, "MALFORMED_QUERY", "SOQL statements can not be longer than 100000 characters")
    tokens = tokenize(soql)
    parser = _Parser(soql, tokens)
    query = parser.query()
    if parser.tok.kind != "eof":
        raise parser.error()
    return query
