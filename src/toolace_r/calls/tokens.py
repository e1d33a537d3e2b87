"""Token-level reading for the fast scanner (:mod:`toolace_r.calls.scanner`).

One ``findall`` of :data:`_TOKEN_RE` splits the text into tokens in C: punctuation, strings,
dotted names, numbers, comments, and any other single non-blank character (which the reader
refuses). Blanks between tokens are skipped, as Python does. A number or name the regex refuses
(``1a``, ``007``) leaves a one-character token behind that can never be followed by what the
grammar expects next, so it always ends in a fall-back.

When the reader gives up, :func:`_certain_syntax_error` looks at the same tokens for an error
that Python's tokenizer always raises (unbalanced brackets, an unterminated string, a character
that no Python token holds, a list that starts with an operator): such a text fails
``ast.parse`` whatever else it holds, so it fails here without being parsed. The tokens are
exact where this matters, that is where strings and comments begin and end (an f- or t-string,
which newer Pythons tokenize differently, ends the search).

Also here: the values of single tokens, :func:`_number` and the string readers
(:func:`_fast_string`), which give exactly what ``ast`` gives or raise :class:`_NoFast`.
"""

from __future__ import annotations

import keyword
import re

from toolace_r.calls.calltypes import MAX_DEPTH

_DIGITS = r"[0-9]+(?:_[0-9]+)*"
_TOKEN_RE = re.compile(
    r"[ \t\n\x0c]*("  # blanks, then one token:
    r"\[(?:-?(?:[1-9][0-9]{0,98}|0), ?){8,}-?(?:[1-9][0-9]{0,98}|0)\]"  # a list of 9+ plain ints
    r"|\*\*|//|<<|>>|\.\.\.|[][(){},=:]"
    r"|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?![A-Za-z0-9_'\"])"  # a dotted name
    # a string with its prefix: triple-quoted, an unterminated triple quote, single-quoted
    r"|[rRuUbBfFtT]{0,2}(?:"
    r'"""[^"\\]*(?:(?:\\[\s\S]|"(?!""))[^"\\]*)*"""'
    r"|'''[^'\\]*(?:(?:\\[\s\S]|'(?!''))[^'\\]*)*'''"
    r'|"""'
    r"|'''"
    r'|"[^"\\\n]*(?:\\[\s\S][^"\\\n]*)*"'
    r"|'[^'\\\n]*(?:\\[\s\S][^'\\\n]*)*')"
    r"|(?:[fFtT][rR]?|[rR][fFtT])['\"]"  # an f- or t-string that does not close on its line
    # a number (leading zeros in a decimal integer are refused later)
    r"|-?(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+"
    r"|(?:" + _DIGITS + r"(?:\.(?:" + _DIGITS + r")?)?|\." + _DIGITS + r")(?:[eE][+-]?" + _DIGITS + r")?[jJ]?)"
    r"(?![A-Za-z0-9_.])"
    r"|#[^\n]*"  # a comment
    r"|[^ \t\n\x0c])"  # anything else: one character
)
_STR_PREFIXES = frozenset({"", "r", "u", "b", "br", "rb"})  # lower-cased; f and t are never read
_ESCAPE_RE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|([\s\S]))")
_SIMPLE_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
                   "t": "\t", "v": "\v", "\n": ""}
_CONSTS = {"True": True, "False": False, "None": None}
_KEYWORDS = frozenset(keyword.kwlist)
_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NUMBER_START = frozenset("-.0123456789")
_QUOTES = frozenset("'\"")
_CLOSERS = {")": "(", "]": "[", "}": "{"}
# no list element starts with these (the first character of the token after ``[``)
_NO_EXPRESSION_START = frozenset("<>=,;:/%&|^@!?$`")
# characters that no Python token holds outside strings and comments
_NEVER_IN_CODE = frozenset("$?`\x7f\x0b" + "".join(map(chr, range(1, 9))) + "".join(map(chr, range(14, 32))))
_FAST_MAX_CHARS = 20_000
# where an f- or t-string may start: a prefix after a character that no name holds (the
# first regex is a quick filter for the second)
_FSTRING_HINT_RE = re.compile(r"[fFtT][rR]?['\"]")
_FSTRING_RE = re.compile(r"[^A-Za-z0-9_][rR]?[fFtT][rR]?['\"]")
_UNTERMINATED = frozenset(["'", '"', "'''", '"""'])  # tokens: a quote that opens no whole string
_BRACKETS = frozenset("()[]{}")
_INT_RUN_RE = re.compile(r"-?(?:[1-9][0-9]{0,98}|0)(?: -?(?:[1-9][0-9]{0,98}|0))*")  # as _number reads them
_FAST_MAX_DEPTH = 50


class _NoFast(Exception):
    pass


def _certain_syntax_error(s: str, toks: list[str]) -> str:
    """A reason why ``ast.parse`` must fail on ``s`` (read into ``toks``), or ""."""
    first = toks[1]
    if first and first[0] in _NO_EXPRESSION_START:
        return f"a list element cannot start with {first[0]!r}"
    if _FSTRING_HINT_RE.search(s) and _FSTRING_RE.search(s):  # only what comes before it counts
        return _syntax_error_before_fstring(toks)
    # No f- or t-string: the tokens are exact from end to end, and an error anywhere is fatal.
    if not _UNTERMINATED.isdisjoint(toks):
        return "unterminated string literal"
    if not _NEVER_IN_CODE.isdisjoint(toks):
        return "invalid character"
    brackets = "".join([t for t in toks if t in _BRACKETS])
    if (brackets.count("(") != brackets.count(")") or brackets.count("[") != brackets.count("]")
            or brackets.count("{") != brackets.count("}")):
        return "unbalanced brackets"
    stack: list[str] = []
    for c in brackets:
        if c in _CLOSERS:
            if not stack or stack.pop() != _CLOSERS[c]:
                return f"closing parenthesis {c!r} does not match"
        else:
            stack.append(c)
            if len(stack) > MAX_DEPTH:
                return "too many nested parentheses"
    return ""


def _syntax_error_before_fstring(toks: list[str]) -> str:
    stack: list[str] = []
    for t in toks:
        if not t:
            break
        c = t[0]
        if t in _CLOSERS:
            if not stack:
                return f"unmatched {c!r}"
            if stack.pop() != _CLOSERS[c]:
                return f"closing parenthesis {c!r} does not match"
        elif t in _BRACKETS:
            stack.append(c)
            if len(stack) > MAX_DEPTH:
                return "too many nested parentheses"
        elif t[-1] in _QUOTES:
            q = _quote_at(t)
            if q:
                prefix = t[:q]
                if "f" in prefix or "F" in prefix or "t" in prefix or "T" in prefix:
                    return ""  # newer Pythons read f- and t-strings differently: stop here
            body = t[q:]
            if len(body) == 1 or body == '"""' or body == "'''":
                return "unterminated string literal"
        elif c in _NEVER_IN_CODE:
            return f"invalid character {c!r}"
    if stack:
        return f"{stack[-1]!r} was never closed"
    return ""


def _quote_at(t: str) -> int:
    """Where the quotes of a string token start (after its prefix)."""
    for q, ch in enumerate(t):
        if ch == '"' or ch == "'":
            return q
    return len(t)


def _number(t: str) -> int | float | complex:
    if t.isdigit() and (t[0] != "0" or len(t) == 1):
        return int(t)
    last = t[-1]
    if last == "j" or last == "J":
        neg = t[0] == "-"
        v = complex(0.0, float(t[1 if neg else 0:-1]))
        return -v if neg else v
    if "x" in t or "X" in t or "o" in t or "O" in t or "b" in t or "B" in t:
        return int(t, 0)
    if "." in t or "e" in t or "E" in t:
        return float(t)
    if (t[0] == "0" or t[:2] == "-0") and t.strip("-0_"):  # ``007``: a syntax error
        raise _NoFast
    return int(t)


def _fast_string(toks: list[str], i: int) -> tuple[str | bytes, int]:
    """One string token, or several in a row (implicitly concatenated)."""
    value = _string_value(toks[i])
    i += 1
    while toks[i] and toks[i][-1] in _QUOTES:
        more = _string_value(toks[i])
        if type(more) is not type(value):  # bytes next to str: a syntax error
            raise _NoFast
        value += more
        i += 1
    return value, i


def _string_value(t: str) -> str | bytes:
    raw = is_bytes = False
    if t[0] != '"' and t[0] != "'":
        q = _quote_at(t)
        prefix = t[:q].lower()
        if prefix not in _STR_PREFIXES:  # f- and t-strings, or a name before a string
            raise _NoFast
        raw, is_bytes = "r" in prefix, "b" in prefix
        t = t[q:]
    if t[:3] == '"""' or t[:3] == "'''":
        if len(t) < 6:  # an unterminated triple quote
            raise _NoFast
        body = t[3:-3]
    else:
        if len(t) < 2:  # a lone quote: unterminated
            raise _NoFast
        body = t[1:-1]
    if is_bytes:
        if not body.isascii():
            raise _NoFast
        if not raw and "\\" in body:
            body = _ESCAPE_RE.sub(_bytes_escape, body)
        return body.encode("latin-1")
    if not raw and "\\" in body:
        body = _ESCAPE_RE.sub(_str_escape, body)
    return body


def _str_escape(m: re.Match) -> str:
    octal, hx, u4, u8, other = m.groups()
    if other is not None:
        if other in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[other]
        if other in "xuUN":  # a malformed \x, \u or \U, or any \N{...}
            raise _NoFast
        return "\\" + other  # an unknown escape keeps its backslash
    if octal is not None:
        return chr(int(octal, 8))
    code = int(hx or u4 or u8, 16)
    if code > 0x10FFFF:
        raise _NoFast
    return chr(code)


def _bytes_escape(m: re.Match) -> str:
    octal, hx, u4, u8, other = m.groups()
    if octal is not None:
        code = int(octal, 8)
        if code > 0o377:
            raise _NoFast
        return chr(code)
    if hx is not None:
        return chr(int(hx, 16))
    if other is None:  # bytes have no \u or \U escapes: kept as written
        return m.group(0)
    if other in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[other]
    if other == "x":
        raise _NoFast
    return "\\" + other
