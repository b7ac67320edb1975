"""A SOQL subset: parser to a small AST and compiler to parameterised SQLite, with Salesforce's
error codes and texts.

This module is the public facade; the code lives in `soql_parser` (tokens, AST, `parse()`,
`OrgError` and the errors raised while parsing) and `soql_compiler` (`compile_query()` resolving
names against the catalog into a `Plan`: SQL fragments whose values are always bound as parameters,
and how to render each row as a REST record or a CSV row). Import from here.
"""

from __future__ import annotations

from sfbackup.emulator.org.soql_compiler import (
    BLOB_LENGTH_FIELDS,
    Compiler,
    Node,
    Plan,
    Resolved,
    compile_query,
    quote_ident,
    sql_datetime,
)
from sfbackup.emulator.org.soql_parser import (
    BoolOp,
    Comparison,
    Condition,
    FieldPath,
    Literal,
    OrgError,
    Query,
    SelectItem,
    Token,
    date_literal_range,
    located,
    malformed,
    parse,
    parse_datetime,
    tokenize,
)

__all__ = [
    "BLOB_LENGTH_FIELDS",
    "BoolOp",
    "Comparison",
    "Compiler",
    "Condition",
    "FieldPath",
    "Literal",
    "Node",
    "OrgError",
    "Plan",
    "Query",
    "Resolved",
    "SelectItem",
    "Token",
    "compile_query",
    "date_literal_range",
    "located",
    "malformed",
    "parse",
    "parse_datetime",
    "quote_ident",
    "sql_datetime",
    "tokenize",
]
