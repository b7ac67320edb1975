"""SQL the org's cursors run for speed: keyset paging conditions and Bulk CSV lines built by SQLite.

`after_sql` gives the rows after a sort key (so REST page k costs what page 1 does); `csv_line_sql`
and `printf_formats` make SQLite print each CSV line in C, byte for byte what
`csv.writer(quoting=QUOTE_ALL)` writes (`real_text` is the SQL function the rare REALs need).
`java_double_text` and `nul_marked_text` are the SQL functions of the enterprise shape's Bulk quirks.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

__all__ = [
    "NUL_MARK",
    "PRINTF_ARGS",
    "after_sql",
    "csv_line_sql",
    "java_double_text",
    "nul_marked_text",
    "printf_formats",
    "real_text",
]

#: Stands for a NUL byte inside a CSV line until the line leaves SQLite (whose printf stops at NUL);
#: valid UTF-8 never contains it.
NUL_MARK = b"\xfe"


def after_sql(terms: list[tuple[str, bool, str | None]], last: tuple[Any, ...]) -> tuple[str, list[Any]]:
    """SQL (and its parameters) true for the rows sorting after sort key `last` under ORDER BY `terms`.

    Row r follows `last` when, for some i, r's first i-1 keys equal last's and its i-th sorts after.
    NULLs sort where SQLite puts them: first ascending, last descending, unless NULLS FIRST/LAST."""
    ors: list[str] = []
    params: list[Any] = []
    equal: list[str] = []
    equal_params: list[Any] = []
    for (expr, desc, nulls), value in zip(terms, last, strict=True):
        nulls_first = nulls == "FIRST" if nulls else not desc
        if value is None:
            after = f"{expr} IS NOT NULL" if nulls_first else None  # nothing sorts after a last NULL
            after_params: list[Any] = []
        else:
            after = f"{expr} {'<' if desc else '>'} ?"
            after = after if nulls_first else f"({after} OR {expr} IS NULL)"
            after_params = [value]
        if after is not None:
            ors.append(" AND ".join([*equal, after]))
            params += [*equal_params, *after_params]
        equal.append(f"{expr} IS ?")
        equal_params.append(value)
    clause = "(" + " OR ".join(ors or ["0"]) + ")"
    expr, desc, nulls = terms[0]
    if last[0] is not None and (nulls == "FIRST" if nulls else not desc):
        # A plain range on the first key lets SQLite start from its index instead of scanning.
        clause = f"{expr} {'<=' if desc else '>='} ? AND {clause}"
        params.insert(0, last[0])
    return clause, params


PRINTF_ARGS = 100  # below SQLite's default limit of 127 arguments per function call


def csv_line_sql(columns: list[str], real_columns: set[int]) -> str:
    """SQL for one CSV line as a BLOB: `printf` calls (one per 100 columns) over the column texts."""
    values = [_real_text_sql(col) if i in real_columns else col for i, col in enumerate(columns)]
    calls = [
        f"printf(CAST(? AS TEXT), {', '.join(values[i : i + PRINTF_ARGS])})"
        for i in range(0, len(values), PRINTF_ARGS)
    ]
    return f"CAST({' || '.join(calls)} AS BLOB)"


def printf_formats(line_format: bytes, columns: int) -> list[bytes]:
    """The format strings `_csv_line_sql` binds: `line_format` cut after every 100th value."""
    formats, rest = [], line_format
    for _ in range(0, columns - PRINTF_ARGS, PRINTF_ARGS):
        cut = 0
        for _ in range(PRINTF_ARGS):
            cut = rest.index(b"%s", cut) + 2
        cut = rest.index(b"\xff", cut) + 1  # the closing 0xFF of the 100th value
        formats.append(rest[:cut])
        rest = rest[cut:]
    return [*formats, rest]


def _real_text_sql(col: str) -> str:
    """SQL giving Python's `repr` of a REAL: SQLite's own text when it is the same, else `sfb_real`.

    SQLite writes 15 significant digits; that equals the shortest round-trip form (Python's) when it
    reads back as the same double and the number is between 1e-4 and 1e15 (no exponent either side)."""
    return (
        f"CASE WHEN {col} IS NULL THEN NULL WHEN abs({col}) >= 1e-4 AND abs({col}) < 1e15 "
        f"AND CAST(CAST({col} AS TEXT) AS REAL) = {col} THEN CAST({col} AS TEXT) ELSE sfb_real({col}) END"
    )


def real_text(value: Any) -> str | None:
    """Python's text of a value (`repr` for floats): register it on each connection as `sfb_real`."""
    return None if value is None else repr(value) if isinstance(value, float) else str(value)


def java_double_text(value: Any) -> str | None:
    """A double as Java's `Double.toString` writes it (Salesforce's Bulk text): `1.5E7`, `1234.5`."""
    if value is None:
        return None
    number = float(value)
    if number == 0 or 1e-3 <= abs(number) < 1e7:
        return repr(number)
    sign, digits, exponent = Decimal(repr(number)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{len(text) + exponent - 1}"


def nul_marked_text(value: Any) -> bytes | None:
    """Text whose NUL bytes are `NUL_MARK`, for printf; the CSV writer turns the marks back."""
    return None if value is None else str(value).encode("utf-8").replace(b"\x00", NUL_MARK)
