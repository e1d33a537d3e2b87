"""Call parsing, formatting and canonical equality (toolace_r.calls)."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolace_r.calls import (
    MAX_CALLS,
    MAX_INPUT_CHARS,
    TOOL_FORMATS,
    Call,
    DecodeError,
    answers_equal,
    calls_equal,
    decode_bfcl,
    detect_tool_format,
    format_answer,
    format_calls,
    parse_calls,
    tool_calls,
)


def test_python_list_with_every_value_kind():
    r = parse_calls('[get_weather(city="Paris", unit=\'celsius\'), g.h(c=[1, -2.5], d={"k": None}, e=True, f=False)]')
    assert r.status == "calls" and r.format == "python"
    assert r.calls == [
        Call("get_weather", {"city": "Paris", "unit": "celsius"}),
        Call("g.h", {"c": [1, -2.5], "d": {"k": None}, "e": True, "f": False}),
    ]


def test_brackets_optional_and_positional_args_dropped():
    assert parse_calls("f(1, a=2)").calls == [Call("f", {"a": 2})]


def test_nested_call_values_follow_bfcl():
    # A call without keywords becomes its source text; with keywords, a {name: args} dict.
    assert decode_bfcl("f(x=g(1), y=h(a=2))") == [Call("f", {"x": "g(1)", "y": {"h": {"a": 2}}})]


def test_arithmetic_is_folded_without_eval():
    assert decode_bfcl('f(x=1+2*3, y="ab"*2, z=2**10)') == [Call("f", {"x": 7, "y": "abab", "z": 1024})]
    with pytest.raises(DecodeError):
        decode_bfcl("f(x=2**10**10)")
    with pytest.raises(DecodeError):
        decode_bfcl('f(x="a"*10**9)')
    with pytest.raises(DecodeError):
        decode_bfcl("f(x=__import__('os').system('true')+1)")


def test_unary_and_names_like_bfcl():
    assert decode_bfcl("f(a=-5, b=not True, c=x, d=a[0])") == [Call("f", {"a": -5, "b": -1, "c": "x", "d": "a[0]"})]
    with pytest.raises(DecodeError):
        decode_bfcl('f(a=-"s")')
    with pytest.raises(DecodeError):
        decode_bfcl("f(a=lambda: 1)")
    with pytest.raises(DecodeError):
        decode_bfcl("f(a=math.pi)")


def test_json_formats():
    assert parse_calls('[{"name": "f", "arguments": {"a": 1}}]').calls == [Call("f", {"a": 1})]
    assert parse_calls('{"name": "f", "arguments": "{\\"a\\": 1}"}').calls == [Call("f", {"a": 1})]
    assert parse_calls('[{"type": "function", "function": {"name": "f", "arguments": "{}"}}]').calls == [Call("f", {})]
    assert parse_calls("[]").status == "calls" and parse_calls("[]").calls == []


def test_tool_call_blocks_and_fences():
    text = '<tool_call>{"name": "a", "arguments": {"x": 1}}</tool_call>\n<tool_call>{"name": "b", "arguments": {}}</tool_call>'
    r = parse_calls(text)
    assert r.format == "tool_call" and r.calls == [Call("a", {"x": 1}), Call("b", {})]
    assert parse_calls("<tool_call>{not json}</tool_call>").status == "malformed"
    # the marker inside an argument of a plain call list is data, not a block (found by hypothesis)
    r = parse_calls("[a(a='<tool_call>')]")
    assert r.status == "calls" and r.calls == [Call("a", {"a": "<tool_call>"})]
    r = parse_calls('[{"name": "a", "arguments": {"a": "<tool_call>x</tool_call>"}}]')
    assert r.format == "json" and r.calls == [Call("a", {"a": "<tool_call>x</tool_call>"})]
    fenced = "Here you go:\n```python\n[f(a=1)]\n```"
    assert parse_calls(fenced).calls == [Call("f", {"a": 1})]
    assert parse_calls('```json\n[{"name": "f", "arguments": {}}]\n```').calls == [Call("f", {})]


def test_text_versus_malformed():
    assert parse_calls("I cannot help with that.").status == "text"
    assert parse_calls("").status == "text"
    assert parse_calls("[f(a=1").status == "malformed"
    assert parse_calls("get_weather(city=").status == "malformed"
    assert parse_calls("[1, 2]").status == "malformed"


def test_bounds():
    assert parse_calls("f(a=" + "[" * 500 + "]" * 500 + ")").status == "malformed"
    assert parse_calls("x" * (MAX_INPUT_CHARS + 1)).status == "malformed"
    assert parse_calls(None).status == "malformed"  # type: ignore[arg-type]
    assert parse_calls("f(a='\x00')").status == "malformed"


def test_format_is_canonical_text():
    calls = [Call("f", {"a": 1, "b": 'x"y', "c": [1.5, None, True], "d": {"k": (1,)}})]
    assert format_calls(calls) == '[f(a=1, b="x\\"y", c=[1.5, None, True], d={"k": (1,)})]'
    assert format_calls([("g", {})]) == "[g()]"


def test_canonical_equality():
    a = [Call("f", {"a": 1, "b": [1, 2]}), Call("g", {})]
    assert calls_equal(a, [Call("g", {}), Call("f", {"b": [1, 2], "a": 1.0})])
    assert not calls_equal(a, [Call("f", {"a": 1, "b": [2, 1]}), Call("g", {})])
    assert not calls_equal([Call("f", {"a": True})], [Call("f", {"a": 1})])
    assert not calls_equal(a, a + a[:1])  # a multiset: duplicates count
    assert answers_equal('[f(b=2, a="x")]', "f(a='x', b=2)")
    assert answers_equal("No tool fits.", "No  tool fits.")
    assert not answers_equal("[f(a=1)]", "No tool fits.")


# --- property-based -------------------------------------------------------------------

_ident = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda s: s not in {"if", "in", "is", "or", "and", "as", "def", "del", "for", "not", "try", "with", "from", "else", "elif", "pass", "class", "while", "yield", "break", "raise", "async", "await", "global", "import", "lambda", "return", "assert", "except", "finally", "continue", "nonlocal"}
)
_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
)
_value = st.recursive(
    _scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=12,
)
_call = st.builds(
    Call,
    st.builds(lambda parts: ".".join(parts), st.lists(_ident, min_size=1, max_size=3)),
    st.dictionaries(_ident, _value, max_size=5),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_call, max_size=4))
def test_parse_of_format_roundtrips(calls):
    r = parse_calls(format_calls(calls))
    assert r.status == "calls"
    assert r.calls == calls
    assert calls_equal(r.calls, calls)


@settings(max_examples=150, deadline=None)
@given(st.lists(_call, min_size=1, max_size=4))
def test_json_format_roundtrips(calls):
    text = json.dumps([{"name": c.name, "arguments": c.arguments} for c in calls])
    assert parse_calls(text).calls == calls


_junk_alphabet = st.sampled_from(list("[](){}\"'=,.:-+*/ \n`<>_abcxyz0123456789\\") + ["<tool_call>", "</tool_call>", "```", "True", "lambda", "**", "f(", "{\"name\": "])


@settings(max_examples=600, deadline=None)
@given(st.one_of(st.text(max_size=200), st.lists(_junk_alphabet, max_size=60).map("".join)))
def test_junk_never_raises(text):
    r = parse_calls(text)
    assert r.status in ("calls", "text", "malformed")
    try:
        decode_bfcl(text)
    except DecodeError:
        pass


# --- the fast path must agree with the ast path wherever it answers -----------------------

def _ast_only(text):
    import toolace_r.calls.decode as calls_mod  # decode_bfcl looks its scanner up there

    saved = calls_mod._fast_decode
    calls_mod._fast_decode = lambda s: None
    try:
        return decode_bfcl(text)
    except DecodeError as e:
        return e.kind
    finally:
        calls_mod._fast_decode = saved


def _both(text):
    try:
        fast = decode_bfcl(text)
    except DecodeError as e:
        fast = e.kind
    return fast, _ast_only(text)


@pytest.mark.parametrize("text", [
    '[f(a=1, b="x", c=[1, -2.5, True], d={"k": None, 1: 2, True: 3}), g.h()]', "[f(a=1,)]", "[]", "[ ]",
    "[f(a=00, b=1.e5, c=.5, d=1E-3, e=-0.0, f=1e999)]", "[f(a='it''s')]", "f(a=1)", "'[f(a=1)]'",
    "[f(a=1, a=2)]", "[f(1)]", '[f(a="x\\n")]', "[f(from=1)]", "[f(a=007)]", "[f(a=1-2)]", "[f(a=1j)]",
    '[f(a=r"x")]', "[f(a=...)]", "[f(a=[1 2])]", "[f(a=1)]]", "[f(a=1)] [g()]", "[f(a={[1]: 2})]",
    "[f(a=1)\t,\n g(b='\u00e9\u4e2d')]", "[f.if(a=1)]", "[f(match=1, case=2, _=3)]", "[f(a=True1)]",
    # tokens the scanner refuses leave one-character leftovers that must never parse
    "[f(a=1a)]", "[f(a=b'x')]", "[f(a=-)]", "[f(a=.)]", '[f(a=")]', "[f(a=1..2)]", "[f(a=01)]",
    "[f(a=1 .5)]", "[f (a=1)]", "[f(a=-.5e3)]", "[f(a=\x0b1)]", "[f(a=- 1)]", "[f(a=1.)]", "[f(a=0_1)]",
    "[f.(a=1)]", "[f(a={1: 2 3})]", r"[f(a='it\'s', b=\"q\\\"\", c='\\', d='x\ny\tz')]", r"[f(a='\x41')]",
    r"[f(a='\\'b')]", r"[f(a='\'')]", r"[f(a='a\\\'b')]", r"[f(a='\u00e9', b='\0')]", "[f(a='\\\n')]",
    "[f(a=[1,,2])]", "[f(a='x' 'y')]", "[f(a=None.x)]", "[f(a=1)",
])
def test_fast_path_matches_ast(text):
    fast, slow = _both(text)
    assert fast == slow
    if isinstance(fast, list):  # also the same types (1 vs 1.0 vs True)
        assert repr(fast) == repr(slow)


@settings(max_examples=300, deadline=None)
@given(st.lists(_call, max_size=4))
def test_fast_path_matches_ast_on_formatted_calls(calls):
    fast, slow = _both(format_calls(calls))
    assert repr(fast) == repr(slow)


@settings(max_examples=400, deadline=None)
@given(st.lists(_junk_alphabet, max_size=40).map("".join))
def test_fast_path_matches_ast_on_junk(text):
    fast, slow = _both(text)
    assert repr(fast) == repr(slow) or (not isinstance(fast, list) and not isinstance(slow, list))


def test_format_falls_back_to_json_for_names_python_cannot_carry():
    calls = [Call("get-weather", {"city": "Paris"}), Call("f", {"from": 1, "x y": [1, 2]}), Call("\ufb01x", {})]
    text = format_calls(calls)
    assert text.startswith('[{"name": ')
    r = parse_calls(text)
    assert r.status == "calls" and r.format == "json" and r.calls == calls
    # plain identifiers keep the Python form
    assert format_calls([Call("a.b", {"c": 1})]) == "[a.b(c=1)]"


@pytest.mark.parametrize("value", [2j, complex(1, -2), -2j, complex(-0.0, -0.0), b"x\x00'", [b"", 1.5j]])
def test_format_keeps_complex_and_bytes(value):
    calls = [Call("f", {"a": value})]
    assert calls_equal(decode_bfcl(format_calls(calls)), calls)


def test_call_without_a_name_is_malformed_for_parse_calls():
    assert decode_bfcl("[f(a)(b=1)]") == [Call("", {"b": 1})]  # as BFCL decodes it
    r = parse_calls("[f(a)(b=1)]")
    assert r.status == "malformed" and "no_name" in r.error


# --- the scanner's newer shapes, and failures it proves without ast ------------------------

def _typed(v):
    """A value with its types spelt out (1, 1.0 and True differ; -0.0 and nan compare), as repr
    would show it, for any int size."""
    t = type(v)
    if t in (list, tuple):
        return t.__name__, tuple(_typed(x) for x in v)
    if t is dict:
        return "dict", tuple((_typed(k), _typed(x)) for k, x in v.items())
    if t is Call:
        return "Call", v.name, _typed(v.arguments)
    if t in (float, complex):
        return t.__name__, repr(v)
    return t.__name__, v


def _both_with_message(text):
    """(result, message) of the fast path and of the ast path."""
    import toolace_r.calls.decode as calls_mod  # decode_bfcl looks its scanner up there

    out = []
    for fast in (True, False):
        saved = calls_mod._fast_decode
        if not fast:
            calls_mod._fast_decode = lambda s: None
        try:
            out.append((_typed(decode_bfcl(text)), ""))
        except DecodeError as e:
            out.append((e.kind, str(e)))
        finally:
            calls_mod._fast_decode = saved
    return out


def _fast_answers(text):
    """Whether the scanner decides ``text`` itself (calls or a failure), without ast."""
    import toolace_r.calls.decode as calls_mod  # decode_bfcl looks its scanner up there

    s = text.strip("`\n ")
    s = s if s.startswith("[") else "[" + s
    s = s if s.endswith("]") else s + "]"
    try:
        return calls_mod._fast_decode(s) is not None
    except DecodeError:
        return True


@pytest.mark.parametrize("text", [
    # values the scanner reads (the same values, of the same types, as ast gives)
    "[f(a=0x1F, b=0o17, c=0b101, d=1_000, e=1_0.5e1_0, f=2j, g=-2j, h=-0x10, i=.5j, k=0_0)]",
    "[f(a=r'\\d+', b=b'x\\x00\\377', c=rb'\\n', d=u'x', e=\"\"\"a\nb\"\"\", f='''it's''', g='a' 'b', h=b'a' b'c')]",
    "[f(a='\\x41\\u00e9\\U0001F600\\101\\a\\b\\f\\v\\r\\0\\d\\/', b='\\\n')]", "[f(a=b'\\u1234\\N\\d')]",
    "[f(a=..., b=(1,), c=(), d=(1, 2), e=(3), f=[(1, [2])], g=x, h=true, i=match)]",
    "[f(1, 'x', [2], a=3), g(**{'k': 1}), h(a=1, **b), i(**c, **d)]", "[f(a=g(b=1), c=h(), d=k.m(n=[1]))]",
    "[f(a=1)]  # done", "[  # calls follow\nf(a=1)\n]", "[f(a=1),\r\n g(b='x')]", "[f(a=1)\x0c]",
    "[f(a=[" + ", ".join(map(str, range(30))) + "]), g(b=[" + ",".join(map(str, range(-5, 20))) + "])]",
    "[f(a=[" + ", ".join(map(str, range(12))) + ",])]", "[f(a=1 + 2, b='m' + 'x', c='ab' * 3, d=True + 0, e=7 // 2)]",
    "[f(a=46 / 2, b=3 ** 2, c=2 ** -1, d=-22 // 2, e=1 << 10, f=5 % 3, g=6 ^ 3, h=6 & 3, i=6 | 1, k=b'a' + b'b')]",
    "[f(a=+5, b=~10, c=not True, d=- 5, e=not 2.5, f=-True)]",
    # failures the scanner proves (the same kind, and message, as the ast path)
    "[f(a={'x'}), g(b=1)]", "[f(a={'x', lambda: 1})]", "[f(a=lambda: 'x')]", "[f(a=lambda x: x + 1)]",
    "[f(a=not 'km')]", "[f(a=-'m')]", "[f(a=-(-5))]", "[f(a=-(-2.5j))]", "[f(a=-x)]", "[f(a=- None)]", "[f(a=~...)]",
    "[f(a=-b'x')]", "[f(a=not 'a' 'b')]", "[f(a='x' if True else '')]", "[f(a=a.b)]", "[f(a=1 / 0)]",
    "[f(a=0 ** -1)]", "[f(a=2.0 ** 10000)]", "[f(a='ab' * 200000)]", "[f(a=x + 1)]", "[f(a=1 @ 2)]",
    "[f(a=... + 1)]", "[f(a=None * 2)]", "[f(a=[1, {2}])]", "[f(a={'k': lambda: 1}), g(b=-'x')]",
    "[f(lambda: 1, a=2)]", "[f(a={'x'}, b={'y': 1 / 0})]", "[f(b={'y': 1 / 0}, a={'x'})]",
    '[{"name": "f", "arguments": {"a": 1, "b": [true, null]}}]', "[f(a=1), {}]", "[x]", "[-1]", "[None, f()]",
    "[(f(a=1),)]", "[[f(a=1)]]", "['[f(a=1)]']", "[f(a=1), {'x'}]", "[f(a=1)] + [g(b=2)]", "[f(a=1)][0]",
    "[f(a=1)][g(b=2)]", "[f(a={1}), [2]]", "[[1], f(a={1})]",
    # syntax errors the scanner proves
    "[f(a=1, b='x", "[f(a=1, b=T", "[f(a=[1, 2)]", "[f(a=1))]", "[f(a=1)]]", "[f(a=1)] ?", "[f(a=1)]\x00",
    "[f(a='x\ny')]", "[f(a='''x)]", "[<tool_call>f(a=1)</tool_call>]", "[=f(a=1)]", "[f(a=1)]\x0b", "[f(a=`1`)]",
    "[" * 201 + "]" * 201, "[f(a=" + "[" * 199 + "]" * 199 + ")]", "[f(a='\ud800')]", "[f(a=1)\r]", "[f(a='x\r')]",
    # ... and texts it leaves to ast, whatever they are
    "[f(a=f'{x}')]", "[f(a=rf'x', b=1]", "[f(a=F'{\"}\"}')]", "[f(a=1 + 2 + 3)]", "[f(a=-2 ** 2)]", "[f(a=1 if x else 2 if y else 3)]",
    "[f(a='\\N{DEGREE SIGN}')]", "[f(a='\\x4')]", "[f(a=b'\\777')]", "[f(a=b'\u00e9')]", "[f(a=10 ** 5000)]",
    "[f(a=(lambda: 1))]", "[f(a=x[0])]", "[f(a=g(1))]", "[f(a=1, 2)]", "[f(a=ub'x')]", "[f(a=1 < 2)]",
    "[f(**a, 1)]", "[f(a={**b})]", "[f(a={[1]: 2})]", "[f(a=[1][0])]", "[f(a=0x)]", "[f(a=1_)]", "[f(a=09)]", "[f(a=09.5)]",
])
def test_fast_path_matches_ast_everywhere(text):
    fast, slow = _both_with_message(text)
    assert fast[0] == slow[0]  # calls (of the same types too) or the failure kind
    if fast[0] != "syntax":  # Python's own wording of a syntax error is not reproduced
        assert fast[1] == slow[1]


@pytest.mark.parametrize("text", [
    "[f(a=0x1F, b=r'x', c=\"\"\"y\"\"\", d=(1, 2), e=g(h=1), f=x)]", "[f(1, a=2, **b)]", "[f(a=1)]  # c",
    "[f(a={'x'})]", "[f(a=lambda: 1)]", "[f(a=not 'x')]", "[f(a='x' if y else 'z')]", "[f(a=1 / 0)]",
    '[{"name": "f", "arguments": {}}]', "[f(a=1)] + [g()]", "[f(a=1)][0]", "[f(a=1, b='x", "[<x>f(a=1)</x>]",
])
def test_scanner_decides_these_without_ast(text):
    assert _fast_answers(text)


_junk2 = st.sampled_from(list("[](){}\"'=,.:-+*/~%@|&^<># \n\r\t\\`?0123456789") + [
    "f(", "g.h(", "a=", "b=", "x", "lambda", "lambda:", "not ", " if ", " else ", "True", "None", "...", "**",
    "//", "r'", "b'", "f'", "u'", '"""', "'''", "0x1F", "1_0", "2j", "1e5", ".5", "-", "{'k': ", "\\n", "\\x41",
    "\\u00e9", "\\N{DASH}", "é", "\x00", "\x0c", "\x0b", "#",
])


@settings(max_examples=1500, deadline=None)
@given(st.lists(_junk2, max_size=40).map("".join))
def test_fast_path_matches_ast_on_junk_kinds(text):
    fast, slow = _both_with_message(text)
    if type(fast[0]) is tuple and slow[0] == "too_many_calls":
        return  # the scanner reads any number of calls (a text it reads is at most 20,000 characters)
    assert fast[0] == slow[0]
    if fast[0] != "syntax":
        assert fast[1] == slow[1]


@settings(max_examples=300, deadline=None)
@given(st.lists(_call, min_size=1, max_size=4), st.sampled_from(["", " # c", "\n", "\n\n  ", "  # a [comment]"]))
def test_fast_path_reads_formatted_calls_itself(calls, tail):
    text = format_calls(calls)
    if not text.startswith("[{"):  # (names Python cannot carry are formatted as JSON)
        assert _fast_answers(text + tail)
        fast, slow = _both_with_message(text + tail)
        assert fast == slow


# ---- the formats of real chat templates (toolace_r.calls.native)

_json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_json_call = st.builds(Call, _ident, st.dictionaries(st.text(min_size=1, max_size=6), _json_value, max_size=4))


@settings(max_examples=200, deadline=None)
@given(st.lists(_json_call, min_size=1, max_size=4), st.sampled_from(TOOL_FORMATS))
def test_every_format_reads_back(calls, fmt):
    text = format_answer(calls, fmt)
    r = parse_calls(text)
    assert r.status == "calls" and calls_equal(r.calls, calls), text
    assert parse_calls("<think>\nlet me see\n</think>\n\n" + text).calls == r.calls  # Qwen3's reasoning block


def test_format_answer_writes_what_the_templates_write():
    calls = [Call("f", {"a": 1}), Call("g", {})]
    assert format_answer(calls, "hermes") == ('<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call>\n'
                                              '<tool_call>\n{"name": "g", "arguments": {}}\n</tool_call>')
    assert format_answer(calls, "llama3_json") == '{"name": "f", "parameters": {"a": 1}}; {"name": "g", "parameters": {}}'
    assert format_answer(calls, "pythonic") == "[f(a=1), g()]"
    with pytest.raises(ValueError, match="tool_format must be one of"):
        format_answer(calls, "xml")
    assert tool_calls(calls)[0] == {"type": "function", "function": {"name": "f", "arguments": {"a": 1}}}


def test_llama_calls_and_reasoning_blocks():
    assert parse_calls('<|python_tag|>{"name": "f", "parameters": {"a": 1}}').calls == [Call("f", {"a": 1})]
    assert parse_calls('{"name": "f", "parameters": {}} ; {"name": "g", "parameters": {"b": 2}}').calls == [
        Call("f", {}), Call("g", {"b": 2})]
    assert parse_calls('{"name": "f", "parameters": {}}; junk').status == "malformed"
    assert parse_calls('{"name": "f", "parameters": {}} {"name": "g"}').status == "malformed"  # no ; between
    assert parse_calls("<think>\n\n</think>\n\nIt is sunny.").status == "text"
    assert parse_calls("<think>\n\n</think>").status == "text"
    assert parse_calls("<think>[f(a=1)]</think>I will not call.").status == "text"  # calls in the reasoning do not count
    many = "; ".join(['{"name": "f", "parameters": {}}'] * (MAX_CALLS + 5))
    assert parse_calls(many).status == "malformed"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["<think>", "</think>", ";", "<|python_tag|>", '{"name": "f", ', '"parameters": ',
                                 "{}", "}", " ", "\n", "<tool_call>", "</tool_call>", "[f(a=1)]"]), max_size=30)
       .map("".join))
def test_format_junk_never_raises(text):
    assert parse_calls(text).status in ("calls", "text", "malformed")


def test_detect_tool_format():
    assert detect_tool_format('{{ "<tool_call>\\n" }}{{ tool_call.arguments | tojson }}') == "hermes"
    assert detect_tool_format('<|start_header_id|>ipython{{ \'"parameters": \' }}') == "llama3_json"
    assert detect_tool_format("<tool_call>\n<function={{ name }}>") == "pythonic"  # XML calls: not ours
    assert detect_tool_format(None) == detect_tool_format("{{ messages }}") == "pythonic"
    # the named templates a tokenizer keeps, as a dict or as tokenizer_config.json's list
    assert detect_tool_format({"default": "x", "tool_use": "<tool_call>"}) == "hermes"
    assert detect_tool_format([{"name": "tool_use", "template": "<tool_call>"}]) == "hermes"
