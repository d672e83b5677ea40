"""SOQL for the local org: parse a query, compile it to one SQLite statement, shape rows as REST records.

The pipeline is a small on-demand tokenizer, a recursive-descent parser that builds a tiny AST, and a
compiler that resolves names against the :class:`~sf_assets.emulator.schema.Schema` and emits SQL. Literal
values only ever travel as SQL parameters; identifiers in the SQL come only from the schema.

Supported: ``SELECT`` of fields and one-level parent fields (``Account.Name``), ``COUNT()`` and
``COUNT(field) [alias]``; ``FROM`` one object with an optional alias; ``WHERE`` with ``=``, ``!=``, ``<>``,
``<``, ``<=``, ``>``, ``>=``, ``LIKE``, ``IN``, ``NOT IN``, ``AND``, ``OR``, ``NOT`` and parentheses; string,
number, boolean, null, date and datetime literals; ``ORDER BY ... [ASC|DESC] [NULLS FIRST|LAST]``;
``LIMIT``; ``OFFSET``. Anything else Salesforce accepts fails ``MALFORMED_QUERY`` naming the construct.

Errors copy Salesforce's: a window of the offending line, a caret, ``ERROR at Row:r:Column:c`` and the
message. Salesforce reports syntax errors (from its ANTLR-generated parser) with a 0-based column and
semantic errors (unknown object or field, bad filter value) with a 1-based one, and always draws the caret
at ``column - 1``; both quirks are reproduced so clients that parse the position see what they would see.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone

from sf_assets.emulator import ids
from sf_assets.emulator.errors import ApiError
from sf_assets.emulator.schema import FieldDef, ObjectDef, Schema

__all__ = ["CompiledQuery", "SoqlError", "compile_soql"]

MAX_OFFSET = 2000
# Salesforce shows about this many characters either side of the caret, widened to whole words.
_WINDOW = 30

_STRING_TYPES = frozenset(
    {
        "string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox",
        "encryptedstring",
    }
)  # fmt: skip
_ID_TYPES = frozenset({"id", "reference"})
_NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})

# Words that end a field list or an object name instead of being read as an alias or field.
_RESERVED = frozenset(
    {
        "AND", "ASC", "BY", "DESC", "EXCLUDES", "FALSE", "FIRST", "FOR", "FROM", "GROUP", "HAVING", "IN",
        "INCLUDES", "LAST", "LIKE", "LIMIT", "NOT", "NULL", "NULLS", "OFFSET", "OR", "ORDER", "SELECT",
        "TRUE", "TYPEOF", "USING", "WHERE", "WITH",
    }
)  # fmt: skip
_DATE_LITERAL = re.compile(r"^(TODAY|YESTERDAY|TOMORROW|(LAST|THIS|NEXT)_\w+|N_\w+_AGO)$", re.IGNORECASE)
_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*")
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))")
_DIGITS = "0123456789"
_ESCAPES = {
    "n": "\n", "N": "\n", "r": "\r", "R": "\r", "t": "\t", "T": "\t", "b": "\b", "B": "\b",
    "f": "\f", "F": "\f", '"': '"', "'": "'", "\\": "\\",
}  # fmt: skip
_OPERATORS = ("!=", "<>", "<=", ">=", "=", "<", ">")
_REFERENCE_HINT = "Please reference your WSDL or the describe call for the appropriate names."


class SoqlError(ApiError):
    """A query Salesforce would refuse, answered as HTTP 400 with Salesforce's errorCode and message.

    Args:
        error_code: ``MALFORMED_QUERY``, ``INVALID_TYPE``, ``INVALID_FIELD``, ...
        message: The message, usually with Salesforce's row/column caret prefix.
    """

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(400, error_code, message)


# ---------------------------------------------------------------------------------------------------------
# Error positions


class _Source:
    """The query text, and the errors that point into it."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _line(self, offset: int) -> tuple[int, int, str]:
        start = self.text.rfind("\n", 0, offset) + 1
        end = self.text.find("\n", offset)
        line = self.text[start : end if end >= 0 else len(self.text)]
        return self.text.count("\n", 0, start) + 1, start, line

    def _located(self, offset: int, column: int, message: str) -> str:
        row, _, line = self._line(offset)
        caret = max(column - 1, 0)
        start, end = _window(line, caret)
        return f"\n{line[start:end]}\n{' ' * (caret - start)}^\nERROR at Row:{row}:Column:{column}\n{message}"

    def semantic(self, offset: int, error_code: str, message: str) -> SoqlError:
        """An error found after parsing (unknown names, bad values): 1-based column, caret on the token."""
        _, line_start, _ = self._line(offset)
        return SoqlError(error_code, self._located(offset, offset - line_start + 1, message))

    def syntax(self, offset: int, message: str) -> SoqlError:
        """A parser error: Salesforce's parser counts columns from 0, so its caret sits one to the left."""
        _, line_start, _ = self._line(offset)
        return SoqlError("MALFORMED_QUERY", self._located(offset, offset - line_start, message))

    def lexical(self, offset: int, detail: str) -> SoqlError:
        """A tokenizer error, worded like the ANTLR lexer message Salesforce passes through."""
        row, line_start, _ = self._line(offset)
        return self.syntax(offset, f"line {row}:{offset - line_start} {detail}")

    def unexpected(self, token: _Token) -> SoqlError:
        return self.syntax(token.start, f"unexpected token: '{token.text}'")

    def unsupported(self, offset: int, construct: str) -> SoqlError:
        return self.semantic(offset, "MALFORMED_QUERY", f"{construct} is not supported by the local org")


def _window(line: str, caret: int) -> tuple[int, int]:
    """The slice of ``line`` Salesforce echoes: about 30 characters each side, never splitting a word."""
    start = caret - _WINDOW
    if start <= 0:
        start = 0
    elif line[start].isspace():
        while start < caret and line[start].isspace():
            start += 1
    else:
        while start > 0 and not line[start - 1].isspace():
            start -= 1
    end = caret + _WINDOW
    if end >= len(line):
        end = len(line)
    elif line[end - 1].isspace():
        while end > caret + 1 and line[end - 1].isspace():
            end -= 1
    else:
        while end < len(line) and not line[end].isspace():
            end += 1
    return start, end


# ---------------------------------------------------------------------------------------------------------
# Tokenizer


@dataclass(frozen=True)
class _Token:
    """One token: ``kind`` is ident, string, number, date, datetime, op, ``(``, ``)``, ``,``, ``:`` or eof."""

    kind: str
    text: str
    start: int
    value: object = None

    def is_word(self, *words: str) -> bool:
        return self.kind == "ident" and self.text.upper() in words


def _is_digit(char: str) -> bool:
    return len(char) == 1 and char in _DIGITS


class _Lexer:
    """Produces tokens on demand, so a syntax error is reported before a lexical error further on.

    That is the order Salesforce's parser reports them in: ``Name = 'O'Brien'`` fails on ``Brien``, not
    on the unterminated quote after it.
    """

    def __init__(self, source: _Source) -> None:
        self._source = source
        self._text = source.text
        self._pos = 0

    def next(self) -> _Token:
        text = self._text
        while self._pos < len(text) and text[self._pos].isspace():
            self._pos += 1
        start = self._pos
        if start >= len(text):
            return _Token("eof", "<EOF>", start)
        char = text[start]
        if char == "'":
            return self._string(start)
        if _is_digit(char) or (char in "+-" and _is_digit(text[start + 1 : start + 2])):
            return self._number_or_date(start)
        match = _IDENT.match(text, start)
        if match:
            return self._take("ident", start, match.end())
        if char in "(),:":
            return self._take(char, start, start + 1)
        for op in _OPERATORS:
            if text.startswith(op, start):
                return self._take("op", start, start + len(op))
        raise self._source.lexical(start, f"no viable alternative at character '{char}'")

    def _take(self, kind: str, start: int, end: int, value: object = None) -> _Token:
        self._pos = end
        return _Token(kind, self._text[start:end], start, value)

    def _string(self, start: int) -> _Token:
        text = self._text
        pos = start + 1
        while pos < len(text) and text[pos] != "'":
            if text[pos] == "\\":
                escape = text[pos + 1 : pos + 2]
                if escape == "u":
                    if not re.fullmatch(r"[0-9A-Fa-f]{4}", text[pos + 2 : pos + 6]):
                        raise self._bad_escape(start, pos, text[pos : pos + 6])
                    pos += 6
                    continue
                if escape not in _ESCAPES and escape not in ("%", "_"):
                    raise self._bad_escape(start, pos, text[pos : pos + 2])
                pos += 2
            else:
                pos += 1
        if pos >= len(text):
            raise self._source.lexical(len(text), "mismatched character '<EOF>' expecting '''")
        return self._take("string", start, pos + 1, text[start + 1 : pos])

    def _bad_escape(self, start: int, pos: int, sequence: str) -> SoqlError:
        end = self._text.find("'", pos + 2)
        literal = self._text[start : end + 1 if end >= 0 else len(self._text)]
        return self._source.syntax(
            pos,
            f"Invalid string literal {literal}. Illegal character sequence '{sequence}' in string literal.",
        )

    def _number_or_date(self, start: int) -> _Token:
        text = self._text
        if _DATE.match(text, start):
            end = start + 10
            if text[end : end + 1] != "T":
                return self._take("date", start, end)
            return self._take("datetime", start, self._datetime_end(end))
        match = _NUMBER.match(text, start)
        assert match is not None  # next() only calls this on a digit or a sign before one
        number = match.group()
        return self._take("number", start, match.end(), float(number) if "." in number else int(number))

    def _datetime_end(self, pos: int) -> int:
        """Scans ``Thh:mm:ss[.fff](Z|+hh:mm|-hh:mm)`` and fails on the first character that does not fit."""
        text = self._text

        def expect(at: int, allowed: str) -> int:
            if at >= len(text) or text[at] not in allowed:
                shown = text[at] if at < len(text) else "<EOF>"
                raise self._source.lexical(at, f"no viable alternative at character '{shown}'")
            return at + 1

        for allowed in ("T", _DIGITS, _DIGITS, ":", _DIGITS, _DIGITS, ":", _DIGITS, _DIGITS):
            pos = expect(pos, allowed)
        if text[pos : pos + 1] == ".":
            pos = expect(pos + 1, _DIGITS)
            while pos < len(text) and text[pos] in _DIGITS:
                pos += 1
        if text[pos : pos + 1] in ("Z", "z"):
            return pos + 1
        for allowed in ("+-", _DIGITS, _DIGITS, ":", _DIGITS, _DIGITS):
            pos = expect(pos, allowed)
        return pos


# ---------------------------------------------------------------------------------------------------------
# AST


@dataclass(frozen=True)
class _Path:
    """A field reference as written: ``Name``, ``Account.Name`` or ``c.Account.Name``."""

    parts: tuple[str, ...]
    text: str
    start: int


@dataclass(frozen=True)
class _FieldItem:
    path: _Path


@dataclass(frozen=True)
class _CountItem:
    """``COUNT()`` when ``path`` is None, otherwise the aggregate ``COUNT(path) [alias]``."""

    path: _Path | None
    alias: str | None
    start: int


@dataclass(frozen=True)
class _Literal:
    """A value in a filter; ``kind`` is string, number, boolean, null, date or datetime."""

    kind: str
    value: object
    start: int


@dataclass(frozen=True)
class _Comparison:
    path: _Path
    op: str  # =, !=, <>, <, <=, >, >=, LIKE, IN, NOT IN
    values: tuple[_Literal, ...]


@dataclass(frozen=True)
class _Not:
    operand: _Condition


@dataclass(frozen=True)
class _Logical:
    op: str  # AND or OR
    operands: tuple[_Condition, ...]


_Condition = _Comparison | _Not | _Logical


@dataclass(frozen=True)
class _OrderItem:
    path: _Path
    descending: bool
    nulls_last: bool


@dataclass(frozen=True)
class _Query:
    items: tuple[_FieldItem | _CountItem, ...]
    sobject: _Token
    alias: str | None
    where: _Condition | None
    order_by: tuple[_OrderItem, ...]
    limit: int | None
    offset: _Token | None


# ---------------------------------------------------------------------------------------------------------
# Parser


class _Parser:
    """Recursive descent over ``SELECT ... FROM ... [WHERE] [ORDER BY] [LIMIT] [OFFSET]``."""

    def __init__(self, source: _Source) -> None:
        self._source = source
        self._lexer = _Lexer(source)
        self._token = self._lexer.next()

    def _advance(self) -> _Token:
        token = self._token
        self._token = self._lexer.next()
        return token

    def _expect_word(self, word: str) -> _Token:
        if not self._token.is_word(word):
            raise self._source.unexpected(self._token)
        return self._advance()

    def _accept_word(self, *words: str) -> bool:
        if self._token.is_word(*words):
            self._advance()
            return True
        return False

    def _reject_unsupported(self) -> None:
        """Names clauses Salesforce has but this org does not, rather than calling them syntax errors."""
        token = self._token
        for word, construct in (
            ("GROUP", "GROUP BY"), ("HAVING", "HAVING"), ("WITH", "WITH"), ("USING", "USING SCOPE"),
            ("FOR", "FOR VIEW/REFERENCE/UPDATE"), ("TYPEOF", "TYPEOF"),
        ):  # fmt: skip
            if token.is_word(word):
                raise self._source.unsupported(token.start, construct)

    def parse(self) -> _Query:
        self._expect_word("SELECT")
        items = self._select_list()
        self._expect_word("FROM")
        if self._token.kind != "ident" or self._token.text.upper() in _RESERVED:
            raise self._source.unexpected(self._token)
        sobject = self._advance()
        alias = None
        if self._token.kind == "ident" and "." not in self._token.text and self._token.text.upper() not in _RESERVED:
            alias = self._advance().text
        self._reject_unsupported()
        where = None
        if self._accept_word("WHERE"):
            where = self._condition()
        self._reject_unsupported()
        order_by: tuple[_OrderItem, ...] = ()
        if self._accept_word("ORDER"):
            self._expect_word("BY")
            order_by = self._order_list()
        limit = None
        if self._accept_word("LIMIT"):
            limit = int(self._integer().text)
        offset = None
        if self._accept_word("OFFSET"):
            offset = self._integer()
        self._reject_unsupported()
        if self._token.kind != "eof":
            raise self._source.unexpected(self._token)
        return _Query(tuple(items), sobject, alias, where, order_by, limit, offset)

    def _integer(self) -> _Token:
        token = self._token
        if token.kind != "number" or not isinstance(token.value, int) or token.text[0] in "+-":
            raise self._source.unexpected(token)
        return self._advance()

    def _path(self) -> _Path:
        token = self._token
        if token.kind != "ident" or token.text.upper() in _RESERVED:
            if token.is_word("TYPEOF"):
                raise self._source.unsupported(token.start, "TYPEOF")
            raise self._source.unexpected(token)
        self._advance()
        if self._token.kind == "(":
            raise self._source.unsupported(token.start, f"The function {token.text}()")
        return _Path(tuple(token.text.split(".")), token.text, token.start)

    def _select_list(self) -> list[_FieldItem | _CountItem]:
        items: list[_FieldItem | _CountItem] = []
        while True:
            token = self._token
            if token.kind == "(":
                raise self._source.unsupported(token.start, "A relationship subquery")
            if token.is_word("COUNT"):
                self._advance()
                if self._token.kind == "(":
                    item = self._count(token, first=not items)
                    items.append(item)
                    if item.path is None:
                        # COUNT() must be the whole field list; anything after it is out of place.
                        return items
                else:
                    # Not the function: a field that happens to be called Count.
                    items.append(_FieldItem(_Path((token.text,), token.text, token.start)))
            else:
                items.append(_FieldItem(self._path()))
            if self._token.kind != ",":
                return items
            self._advance()

    def _count(self, name: _Token, *, first: bool) -> _CountItem:
        start = name.start
        self._advance()
        if self._token.kind == ")":
            if not first:
                raise self._source.unexpected(self._token)
            self._advance()
            return _CountItem(None, None, start)
        path = self._path()
        if self._token.kind != ")":
            raise self._source.syntax(self._token.start, f"expecting a right parentheses, found '{self._token.text}'")
        self._advance()
        alias = None
        if self._token.kind == "ident" and "." not in self._token.text and self._token.text.upper() not in _RESERVED:
            alias = self._advance().text
        return _CountItem(path, alias, start)

    def _order_list(self) -> tuple[_OrderItem, ...]:
        items = []
        while True:
            path = self._path()
            descending = False
            if self._token.is_word("ASC", "DESC"):
                descending = self._advance().text.upper() == "DESC"
            nulls_last = False
            if self._accept_word("NULLS"):
                if not self._token.is_word("FIRST", "LAST"):
                    raise self._source.unexpected(self._token)
                nulls_last = self._advance().text.upper() == "LAST"
            items.append(_OrderItem(path, descending, nulls_last))
            if self._token.kind != ",":
                return tuple(items)
            self._advance()

    def _condition(self) -> _Condition:
        operands = [self._term()]
        op = None
        while self._token.is_word("AND", "OR"):
            word = self._token.text.upper()
            if op is None:
                op = word
            elif word != op:
                # SOQL refuses to guess precedence: mixing AND and OR needs parentheses.
                raise self._source.unexpected(self._token)
            self._advance()
            operands.append(self._term())
        return operands[0] if op is None else _Logical(op, tuple(operands))

    def _term(self) -> _Condition:
        if self._accept_word("NOT"):
            return _Not(self._term())
        if self._token.kind == "(":
            self._advance()
            condition = self._condition()
            self._close_paren()
            return condition
        return self._comparison()

    def _close_paren(self) -> None:
        if self._token.kind != ")":
            raise self._source.syntax(self._token.start, f"expecting a right parentheses, found '{self._token.text}'")
        self._advance()

    def _comparison(self) -> _Comparison:
        path = self._path()
        token = self._token
        if token.kind == "op":
            self._advance()
            return _Comparison(path, token.text, (self._value(),))
        if token.is_word("LIKE"):
            self._advance()
            return _Comparison(path, "LIKE", (self._value(),))
        if token.is_word("IN"):
            self._advance()
            return _Comparison(path, "IN", self._value_list())
        if token.is_word("NOT"):
            self._advance()
            self._expect_word("IN")
            return _Comparison(path, "NOT IN", self._value_list())
        if token.is_word("INCLUDES", "EXCLUDES"):
            raise self._source.unsupported(token.start, token.text.upper())
        raise self._source.unexpected(token)

    def _value_list(self) -> tuple[_Literal, ...]:
        token = self._token
        if token.kind == ":":
            raise self._source.syntax(token.start, "Bind variables only allowed in Apex code")
        if token.kind != "(":
            raise self._source.syntax(token.start, f"expecting a colon, found '{token.text}'")
        self._advance()
        if self._token.is_word("SELECT"):
            raise self._source.unsupported(self._token.start, "A semi-join subquery")
        values = [self._value()]
        while self._token.kind == ",":
            self._advance()
            values.append(self._value())
        self._close_paren()
        return tuple(values)

    def _value(self) -> _Literal:
        token = self._token
        if token.kind == ":":
            raise self._source.syntax(token.start, "Bind variables only allowed in Apex code")
        if token.kind in ("string", "number"):
            self._advance()
            return _Literal(token.kind, token.value, token.start)
        if token.kind in ("date", "datetime"):
            self._advance()
            return _Literal(token.kind, token.text, token.start)
        if token.is_word("TRUE", "FALSE"):
            self._advance()
            return _Literal("boolean", token.text.upper() == "TRUE", token.start)
        if token.is_word("NULL"):
            self._advance()
            return _Literal("null", None, token.start)
        if token.kind == "ident" and _DATE_LITERAL.match(token.text):
            raise self._source.unsupported(token.start, f"The date literal {token.text.upper()}")
        raise self._source.unexpected(token)


# ---------------------------------------------------------------------------------------------------------
# Compiler


@dataclass(frozen=True)
class _Join:
    alias: str
    reference: FieldDef
    target: ObjectDef


@dataclass(frozen=True)
class _Column:
    sql: str
    field: FieldDef
    join: _Join | None


@dataclass(frozen=True)
class _Out:
    """A value copied from ``row[index]`` into the record under ``key``."""

    key: str
    index: int
    type: str


@dataclass(frozen=True)
class _ParentOut:
    """A parent relationship rendered as a nested record, or None when ``row[id_index]`` is null."""

    key: str
    sobject: str
    id_index: int
    fields: tuple[_Out, ...]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _collation(f: FieldDef) -> str:
    # Salesforce compares text case-insensitively unless the field is declared case-sensitive.
    return " COLLATE NOCASE" if f.sql_type == "TEXT" and not f.case_sensitive else ""


def _soap_name(f: FieldDef) -> str:
    local = str(f.props["soapType"]).split(":")[-1]
    return "id" if local == "ID" else local


def _normalize_datetime(text: str) -> str:
    match = _DATETIME.fullmatch(text)
    assert match is not None  # the tokenizer only produces well-formed datetime tokens
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = match.groups()
    millis = int((fraction or "0")[:3].ljust(3, "0"))
    value = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), millis * 1000)
    if sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        value = value.replace(tzinfo=timezone(offset if sign == "+" else -offset))
    else:
        value = value.replace(tzinfo=UTC)
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def _decode_string(raw: str) -> str:
    """The value of a string literal outside LIKE, where ``\\%`` and ``\\_`` mean the plain characters."""
    out = []
    pos = 0
    while pos < len(raw):
        char = raw[pos]
        if char != "\\":
            out.append(char)
            pos += 1
            continue
        escape = raw[pos + 1]
        if escape == "u":
            out.append(chr(int(raw[pos + 2 : pos + 6], 16)))
            pos += 6
        else:
            out.append(_ESCAPES.get(escape, escape))
            pos += 2
    return "".join(out)


def _like_pattern(raw: str) -> str:
    """A SQLite ``LIKE ... ESCAPE '\\'`` pattern: SOQL's ``%`` and ``_`` stay wildcards, ``\\%`` does not."""
    out = []
    pos = 0
    while pos < len(raw):
        char = raw[pos]
        if char != "\\":
            # Plain characters and the unescaped wildcards % and _ mean the same in both dialects.
            out.append(char)
            pos += 1
        elif raw[pos + 1] in "%_":
            out.append(raw[pos : pos + 2])
            pos += 2
        else:
            literal = _decode_string(raw[pos : pos + (6 if raw[pos + 1] == "u" else 2)])
            out.append("\\" + literal if literal in "%_\\" else literal)
            pos += 6 if raw[pos + 1] == "u" else 2
    return "".join(out)


class _Compiler:
    """Resolves an AST against the schema and assembles the SQL, its parameters and the record plan."""

    def __init__(self, source: _Source, schema: Schema, query: _Query, include_deleted: bool) -> None:
        self._source = source
        self._schema = schema
        self._query = query
        self._include_deleted = include_deleted
        obj = schema.get(query.sobject.text)
        if obj is None:
            raise source.semantic(
                query.sobject.start,
                "INVALID_TYPE",
                f"sObject type '{query.sobject.text}' is not supported. If you are attempting to use a "
                f"custom object, be sure to append the '__c' after the entity name. {_REFERENCE_HINT}",
            )
        self._obj = obj
        self._prefixes = {obj.name.lower()} | ({query.alias.lower()} if query.alias else set())
        self._joins: dict[str, _Join] = {}
        self._params: list[object] = []

    # -- names ----------------------------------------------------------------------------------------

    def _resolve(self, path: _Path) -> _Column:
        parts = path.parts
        if len(parts) > 1 and parts[0].lower() in self._prefixes:
            parts = parts[1:]
        if len(parts) == 1:
            f = self._obj.field(parts[0])
            if f is None:
                raise self._no_such_column(path, parts[0], self._obj)
            return _Column(f'"t0".{_quote(f.name)}', self._stored(f, path), None)
        reference = self._obj.relationship(parts[0])
        targets: list[ObjectDef] = []
        if reference is not None and reference.type == "reference":
            # Only parents this org stores can be joined (Owner's User, for one, is not stored).
            targets = [t for t in map(self._schema.get, reference.reference_to) if t is not None]
        if reference is None or not targets:
            raise self._source.semantic(
                path.start,
                "INVALID_FIELD",
                f"Didn't understand relationship '{parts[0]}' in field path. If you are attempting to use a "
                f"custom relationship, be sure to append the '__r' after the custom relationship name. "
                f"{_REFERENCE_HINT}",
            )
        if len(targets) > 1:
            raise self._source.unsupported(path.start, f"The polymorphic relationship {parts[0]}")
        if len(parts) > 2:
            raise self._source.unsupported(path.start, f"The relationship path {path.text} (more than one level)")
        target = targets[0]
        f = target.field(parts[1])
        if f is None:
            raise self._no_such_column(path, parts[1], target)
        join = self._join(reference, target)
        return _Column(f"{_quote(join.alias)}.{_quote(f.name)}", self._stored(f, path), join)

    def _no_such_column(self, path: _Path, name: str, obj: ObjectDef) -> SoqlError:
        return self._source.semantic(
            path.start,
            "INVALID_FIELD",
            f"No such column '{name}' on entity '{obj.name}'. If you are attempting to use a custom field, "
            f"be sure to append the '__c' after the custom field name. {_REFERENCE_HINT}",
        )

    def _stored(self, f: FieldDef, path: _Path) -> FieldDef:
        if f.sql_type is None:
            raise self._source.unsupported(path.start, f"The compound field {f.name}")
        return f

    def _join(self, reference: FieldDef, target: ObjectDef) -> _Join:
        key = reference.name.lower()
        if key not in self._joins:
            self._joins[key] = _Join(f"t{len(self._joins) + 1}", reference, target)
        return self._joins[key]

    # -- SELECT ---------------------------------------------------------------------------------------

    def compile(self) -> CompiledQuery:
        query = self._query
        if query.items and isinstance(query.items[0], _CountItem) and query.items[0].path is None:
            return self._count_all()
        if any(isinstance(item, _CountItem) for item in query.items):
            return self._aggregate()
        columns: list[str] = []

        def index_of(sql: str) -> int:
            if sql not in columns:
                columns.append(sql)
            return columns.index(sql)

        id_index = index_of('"t0"."Id"')
        plan: list[_Out | str] = []
        parents: dict[str, tuple[_Join, list[_Out]]] = {}
        seen: set[str] = set()
        for item in query.items:
            assert isinstance(item, _FieldItem)
            column = self._resolve(item.path)
            join = column.join
            canonical = f"{join.reference.relationship_name}.{column.field.name}" if join else column.field.name
            if canonical.lower() in seen:
                raise SoqlError("INVALID_FIELD", f"duplicate field selected: {canonical}")
            seen.add(canonical.lower())
            out = _Out(column.field.name, index_of(column.sql), column.field.type)
            if join is None:
                plan.append(out)
                continue
            if join.alias not in parents:
                parents[join.alias] = (join, [])
                plan.append(join.alias)
            parents[join.alias][1].append(out)
        final_plan = tuple(
            entry
            if isinstance(entry, _Out)
            else _ParentOut(
                str(parents[entry][0].reference.relationship_name),
                parents[entry][0].target.name,
                index_of(f'{_quote(entry)}."Id"'),
                tuple(parents[entry][1]),
            )
            for entry in plan
        )
        where = self._where_sql()
        order = self._order_sql()
        sql = f"SELECT {', '.join(columns)} FROM {self._from_sql()}{where} ORDER BY {order}{self._limit_sql()}"
        return CompiledQuery(
            self._obj, sql, tuple(self._params), False, query.limit,
            _plan=final_plan, _id_index=id_index,
        )  # fmt: skip

    def _count_all(self) -> CompiledQuery:
        query = self._query
        if query.order_by:
            raise SoqlError("MALFORMED_QUERY", "COUNT() and ORDER BY may not be used together.")
        where = self._where_sql()
        limit = self._limit_sql()
        if limit:
            # LIMIT caps the count, as it does in Salesforce, so count the capped row set.
            sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM {self._from_sql()}{where}{limit})"
        else:
            sql = f"SELECT COUNT(*) FROM {self._from_sql()}{where}"
        return CompiledQuery(self._obj, sql, tuple(self._params), True, query.limit)

    def _aggregate(self) -> CompiledQuery:
        query = self._query
        columns = []
        outs = []
        unnamed = 0
        for item in query.items:
            if isinstance(item, _FieldItem):
                raise self._source.semantic(
                    item.path.start,
                    "MALFORMED_QUERY",
                    f"Field must be grouped or aggregated: {item.path.text}",
                )
            assert item.path is not None
            column = self._resolve(item.path)
            if item.alias is None:
                key = f"expr{unnamed}"
                unnamed += 1
            else:
                key = item.alias
            outs.append(_Out(key, len(columns), "int"))
            columns.append(f"COUNT({column.sql})")
        if query.order_by:
            path = query.order_by[0].path
            raise self._source.semantic(
                path.start, "MALFORMED_QUERY", f"Ordered field must be grouped or aggregated: {path.text}"
            )
        where = self._where_sql()
        sql = f"SELECT {', '.join(columns)} FROM {self._from_sql()}{where}{self._limit_sql()}"
        return CompiledQuery(
            self._obj, sql, tuple(self._params), False, query.limit, _plan=tuple(outs), _aggregate=True
        )

    def _from_sql(self) -> str:
        sql = f'{_quote(self._obj.name)} AS "t0"'
        for join in self._joins.values():
            sql += (
                f" LEFT JOIN {_quote(join.target.name)} AS {_quote(join.alias)}"
                f' ON {_quote(join.alias)}."Id" = "t0".{_quote(join.reference.name)}'
            )
        return sql

    def _limit_sql(self) -> str:
        query = self._query
        offset = None
        if query.offset is not None:
            offset = int(query.offset.text)
            if offset > MAX_OFFSET:
                raise self._source.semantic(
                    query.offset.start,
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"Maximum SOQL offset allowed is {MAX_OFFSET}",
                )
        if query.limit is None and offset is None:
            return ""
        # SQLite needs a LIMIT before OFFSET; -1 means no limit.
        self._params.append(-1 if query.limit is None else query.limit)
        if offset is None:
            return " LIMIT ?"
        self._params.append(offset)
        return " LIMIT ? OFFSET ?"

    # -- ORDER BY -------------------------------------------------------------------------------------

    def _order_sql(self) -> str:
        terms = []
        for item in self._query.order_by:
            column = self._resolve(item.path)
            if not column.field.props.get("sortable", True):
                raise self._source.semantic(
                    item.path.start,
                    "INVALID_FIELD",
                    f"field '{column.field.name}' can not be sorted in a query call",
                )
            direction = " DESC" if item.descending else " ASC"
            nulls = " NULLS LAST" if item.nulls_last else " NULLS FIRST"
            terms.append(f"{column.sql}{_collation(column.field)}{direction}{nulls}")
        # Ties (and unsorted queries) come back in creation order, which IDs follow, so pages are stable.
        terms.append('"t0"."Id"')
        return ", ".join(terms)

    # -- WHERE ----------------------------------------------------------------------------------------

    def _where_sql(self) -> str:
        clauses = []
        if not self._include_deleted and self._obj.field("IsDeleted") is not None:
            clauses.append('"t0"."IsDeleted" = 0')
        if self._query.where is not None:
            clauses.append(self._condition(self._query.where))
        return " WHERE " + " AND ".join(clauses) if clauses else ""

    def _condition(self, node: _Condition) -> str:
        # Every comparison below yields 0 or 1, never NULL, so NOT behaves as it does in SOQL.
        if isinstance(node, _Logical):
            return "(" + f" {node.op} ".join(self._condition(o) for o in node.operands) + ")"
        if isinstance(node, _Not):
            return f"NOT {self._condition(node.operand)}"
        return self._comparison(node)

    def _comparison(self, node: _Comparison) -> str:
        column = self._resolve(node.path)
        f = column.field
        if not f.props.get("filterable", True):
            raise self._source.semantic(
                node.path.start, "INVALID_FIELD", f"field '{f.name}' can not be filtered in query call"
            )
        col = column.sql
        collate = _collation(f)
        if node.op == "LIKE":
            return self._like(node, f, col)
        if node.op in ("IN", "NOT IN"):
            values = [self._param(lit, f) for lit in node.values]
            present = [v for v in values if v is not None]
            parts = []
            if present:
                self._params.extend(present)
                marks = ", ".join("?" * len(present))
                parts.append(f"({col} IS NOT NULL AND {col}{collate} IN ({marks}))")
            if len(present) < len(values):
                parts.append(f"{col} IS NULL")
            test = "(" + " OR ".join(parts) + ")"
            return test if node.op == "IN" else f"NOT {test}"
        value = self._param(node.values[0], f)
        op = "!=" if node.op == "<>" else node.op
        if value is None:
            return {"=": f"{col} IS NULL", "!=": f"{col} IS NOT NULL"}.get(op, "0")
        self._params.append(value)
        if op == "!=":
            # SOQL's != keeps rows whose value is null, unlike SQL's.
            return f"({col} IS NULL OR {col} <> ?{collate})"
        return f"({col} IS NOT NULL AND {col} {op} ?{collate})"

    def _like(self, node: _Comparison, f: FieldDef, col: str) -> str:
        literal = node.values[0]
        if f.type in _ID_TYPES:
            raise self._source.semantic(
                node.path.start, "INVALID_QUERY_FILTER_OPERATOR", "invalid operator on id field"
            )
        if literal.kind == "null":
            return "0"
        if f.type not in _STRING_TYPES or literal.kind != "string":
            self._param(literal, f)  # raises Salesforce's type error for the mismatch
        self._params.append(_like_pattern(str(literal.value)))
        # SOQL's LIKE ignores case even on case-sensitive fields, as SQLite's LIKE does.
        return f"({col} IS NOT NULL AND {col} LIKE ? ESCAPE '\\')"

    def _param(self, literal: _Literal, f: FieldDef) -> object:
        """The SQL parameter for ``literal`` compared with ``f`` (None for null), checked like Salesforce."""
        kind = literal.kind
        if kind == "null":
            return None
        if f.type in _STRING_TYPES or f.type in _ID_TYPES:
            if kind != "string":
                raise self._type_error(literal, f, quoted=True)
            text = _decode_string(str(literal.value))
            if text == "":
                # Salesforce stores no empty strings: '' in a filter means null.
                return None
            if f.type in _ID_TYPES:
                normalized = ids.normalize(text)
                if normalized is None:
                    raise self._source.semantic(
                        literal.start, "INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {text}"
                    )
                return normalized
            return text
        if f.type == "boolean" and kind == "boolean":
            return 1 if literal.value else 0
        if f.type in _NUMBER_TYPES and kind == "number":
            return literal.value
        if f.type == "date" and kind == "date":
            return self._checked_date(literal)
        if f.type == "datetime" and kind == "datetime":
            return self._checked_datetime(literal)
        if f.type not in _NUMBER_TYPES and f.type not in ("boolean", "date", "datetime"):
            raise self._source.unsupported(literal.start, f"Filtering on the {f.type} field {f.name}")
        raise self._type_error(literal, f, quoted=False)

    def _type_error(self, literal: _Literal, f: FieldDef, *, quoted: bool) -> SoqlError:
        should = "should" if quoted else "should not"
        return self._source.semantic(
            literal.start,
            "INVALID_FIELD",
            f"value of filter criterion for field '{f.name}' must be of type {_soap_name(f)} and {should} be "
            "enclosed in quotes",
        )

    def _checked_date(self, literal: _Literal) -> str:
        text = str(literal.value)
        try:
            date.fromisoformat(text)
        except ValueError:
            raise self._source.semantic(literal.start, "MALFORMED_QUERY", f"Invalid date: {text}") from None
        return text

    def _checked_datetime(self, literal: _Literal) -> str:
        text = str(literal.value)
        try:
            return _normalize_datetime(text)
        except ValueError:
            raise self._source.semantic(literal.start, "MALFORMED_QUERY", f"Invalid datetime: {text}") from None


# ---------------------------------------------------------------------------------------------------------
# Public API


def _json_value(value: object, field_type: str) -> object:
    if value is None:
        return None
    if field_type == "boolean":
        return bool(value)
    if field_type == "int":
        return int(value)  # type: ignore[call-overload]
    if field_type in ("double", "currency", "percent"):
        return float(value)  # type: ignore[arg-type]
    return value


def _attributes(sobject: str, record_id: object, api_version: str) -> dict[str, object]:
    return {"type": sobject, "url": f"/services/data/v{api_version}/sobjects/{sobject}/{record_id}"}


@dataclass(frozen=True)
class CompiledQuery:
    """A SOQL query compiled to one SQLite statement, with what is needed to shape its rows.

    ``LIMIT`` and ``OFFSET`` are already in ``sql``; ``limit`` repeats the query's LIMIT for callers that
    page results. For ``COUNT()`` (``count_only``) the statement returns one row holding the count, which
    is the REST ``totalSize``; there are no records to shape.

    Attributes:
        sobject: The object queried.
        sql: The SQLite statement; run it with ``params``.
        params: Positional parameters for ``sql``.
        count_only: True for ``SELECT COUNT() ...``.
        limit: The query's LIMIT, or None.
    """

    sobject: ObjectDef
    sql: str
    params: tuple[object, ...]
    count_only: bool
    limit: int | None
    _plan: tuple[_Out | _ParentOut, ...] = field(default=(), repr=False, compare=False)
    _id_index: int = field(default=0, repr=False, compare=False)
    _aggregate: bool = field(default=False, repr=False, compare=False)

    def shape(self, row: tuple[object, ...], api_version: str) -> dict[str, object]:
        """One REST query record built from one row of ``sql``.

        Args:
            row: A row returned by running ``sql`` with ``params``.
            api_version: The API version of the request, such as ``"59.0"`` (a leading ``v`` is ignored).

        Returns:
            ``{"attributes": {"type": ..., "url": ...}, <fields in SELECT order>}``; parent fields nest
            under the relationship name (None when there is no parent), and ``COUNT(field)`` queries give
            ``{"attributes": {"type": "AggregateResult"}, "expr0": n}``.

        Raises:
            ValueError: For a ``COUNT()`` query, which has no records.
        """
        if self.count_only:
            raise ValueError("COUNT() queries have no records; their single row holds the totalSize")
        version = api_version.removeprefix("v")
        if self._aggregate:
            record: dict[str, object] = {"attributes": {"type": "AggregateResult"}}
            record.update({out.key: _json_value(row[out.index], out.type) for out in self._plan})
            return record
        record = {"attributes": _attributes(self.sobject.name, row[self._id_index], version)}
        for out in self._plan:
            if isinstance(out, _Out):
                record[out.key] = _json_value(row[out.index], out.type)
                continue
            parent_id = row[out.id_index]
            if parent_id is None:
                record[out.key] = None
                continue
            parent: dict[str, object] = {"attributes": _attributes(out.sobject, parent_id, version)}
            parent.update({f.key: _json_value(row[f.index], f.type) for f in out.fields})
            record[out.key] = parent
        return record


def compile_soql(soql: str, schema: Schema, *, include_deleted: bool = False) -> CompiledQuery:
    """Parses and compiles a SOQL query against ``schema``.

    Args:
        soql: The query text.
        schema: The org's objects and fields.
        include_deleted: True for ``queryAll``, which also returns soft-deleted rows.

    Returns:
        The compiled query.

    Raises:
        SoqlError: With Salesforce's errorCode (``MALFORMED_QUERY``, ``INVALID_TYPE``, ``INVALID_FIELD``,
            ``INVALID_QUERY_FILTER_OPERATOR``, ``NUMBER_OUTSIDE_VALID_RANGE``) and message.
    """
    source = _Source(soql)
    query = _Parser(source).parse()
    return _Compiler(source, schema, query, include_deleted).compile()
