"""Converters from ToolACE, xLAM, OpenAI/TRL, LLaMA-Factory sharegpt and BFCL, the two
exporters, and the round trip convert -> export -> convert. Fixtures are written here, in
each format's published shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolace_r.calls import format_calls
from toolace_r.checker import check
from toolace_r.data import convert as cv
from toolace_r.data import export as ex
from toolace_r.data import normalize as nz
from toolace_r.data.io import ConversionReport, DataError, Record, RecordError, write_jsonl
from toolace_r.data.schema import Message, Sample, answer_from_calls

# --------------------------------------------------------------------------------------
# Fixtures, one per format

TOOLACE_TOOLS = [
    {"name": "Market Trends API", "description": "Get the latest market trends.",
     "parameters": {"type": "dict", "properties": {
         "trend_type": {"description": "Trend type", "type": "string"},
         "country": {"description": "Country code", "type": "string", "default": "us"},
         "filters": {"type": "dict", "properties": {"min_change": {"type": "float"}}}},
         "required": ["trend_type"]}, "required": None},
    {"name": "get_weather", "description": "Weather of a city.",
     "parameters": {"type": "dict", "properties": {"city": {"type": "str"}, "days": {"type": "int"},
                                                   "hourly": {"type": "bool"}, "tags": {"type": "list"}},
                    "required": ["city"]}},
]
TOOLACE_SYSTEM = ("You are an expert in composing functions. You are given a question and a set of possible "
                  "functions.\nHere is a list of functions in JSON format that you can invoke:\n"
                  + json.dumps(TOOLACE_TOOLS) + "\nShould you decide to return the function call(s), put them "
                  "in the format of [func1(params_name=params_value), func2(params)].")
TOOLACE = [
    {"system": TOOLACE_SYSTEM, "conversations": [
        {"from": "user", "value": "Show me index trends, and the weather in Oslo for 3 days."},
        {"from": "assistant", "value": "[Market Trends API(trend_type='INDEXES', filters={'min_change': 1.5}), "
                                       "get_weather(city='Oslo', days=3, tags=['wind', 'rain'])]"},
        {"from": "tool", "value": '[{"name": "Market Trends API", "results": {"up": 3}}]'},
        {"from": "assistant", "value": "Indexes are up and Oslo will be windy."},
        {"from": "user", "value": "And hourly weather in Bergen?"},
        {"from": "assistant", "value": "[get_weather(city=\"Bergen\", hourly=True)]"},
        {"from": "tool", "value": '[{"name": "get_weather", "results": {"temp": 4}}]'},
        {"from": "assistant", "value": "It is 4 degrees in Bergen."},
    ]},
    {"system": TOOLACE_SYSTEM, "conversations": [
        {"from": "user", "value": "Book me a dentist."},
        {"from": "assistant", "value": "Sorry, none of the functions can book appointments."},
    ]},
    {"system": TOOLACE_SYSTEM, "conversations": [
        {"from": "user", "value": "Weather in Lima?"},
        {"from": "assistant", "value": "[get_weather(city='Lima')]"},
    ]},
]

XLAM = [
    {"id": 7, "query": "What are the live giveaways for loot and for beta?",
     "tools": json.dumps([{"name": "live_giveaways_by_type", "description": "Live giveaways by type.",
                           "parameters": {"type": {"description": "Giveaway type", "type": "str", "default": "game"}}}]),
     "answers": json.dumps([{"name": "live_giveaways_by_type", "arguments": {"type": "loot"}},
                            {"name": "live_giveaways_by_type", "arguments": {"type": "beta"}}])},
    {"id": 8, "query": "Sum of 1, 2 and 3, then the max.",
     "tools": json.dumps([
         {"name": "sum_list", "description": "Sum.", "parameters": {"nums": {"description": "Numbers", "type": "List[int]"}}},
         {"name": "max_of", "description": "Max.", "parameters": {
             "nums": {"description": "Numbers", "type": "List[float]"},
             "strict": {"description": "Strict", "type": "bool, optional"}}}]),
     "answers": json.dumps([{"name": "sum_list", "arguments": {"nums": [1, 2, 3]}}])},
]

OPENAI_TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city.", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["city"]}}},
    {"type": "function", "function": {"name": "get_time", "description": "Local time.", "parameters": {
        "type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}}},
]
OPENAI = [
    {"messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Weather in Paris and time in CET?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "c"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": {"tz": "CET"}}}]},
        {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": '{"temp": 20}'},
        {"role": "tool", "tool_call_id": "call_2", "name": "get_time", "content": {"time": "10:00"}},
        {"role": "assistant", "content": "20 degrees, 10:00."}],
     "tools": OPENAI_TOOLS},
    {"messages": [{"role": "user", "content": "Time in JST?"},
                  {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "get_time", "arguments": '{"tz": "JST"}'}}]}],
     "tools": [OPENAI_TOOLS[1]]},
]

SHAREGPT_TOOLS = [{"name": "search_hotels", "description": "Search hotels.", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "nights": {"type": "integer"}}, "required": ["city"]}},
    {"name": "book_hotel", "description": "Book a hotel.", "parameters": {
        "type": "object", "properties": {"hotel_id": {"type": "string"}}, "required": ["hotel_id"]}}]
SHAREGPT = [
    {"conversations": [
        {"from": "human", "value": "Find hotels in Rome and Milan for 2 nights."},
        {"from": "function_call", "value": json.dumps([{"name": "search_hotels", "arguments": {"city": "Rome", "nights": 2}},
                                                       {"name": "search_hotels", "arguments": {"city": "Milan", "nights": 2}}])},
        {"from": "observation", "value": '[{"id": "h1"}, {"id": "h2"}]'},
        {"from": "gpt", "value": "I found h1 and h2."},
        {"from": "human", "value": "Book h1."},
        {"from": "function_call", "value": json.dumps({"name": "book_hotel", "arguments": {"hotel_id": "h1"}})},
        {"from": "observation", "value": '{"ok": true}'},
        {"from": "gpt", "value": "Booked."}],
     "system": "You book hotels.", "tools": json.dumps(SHAREGPT_TOOLS)},
]

BFCL_QUESTIONS = [
    {"id": "simple_0", "question": [[{"role": "user", "content": "Area of a triangle with base 10 and height 5?"}]],
     "function": [{"name": "calculate_triangle_area", "description": "Triangle area.", "parameters": {
         "type": "dict", "properties": {"base": {"type": "integer"}, "height": {"type": "integer"},
                                        "unit": {"type": "string", "default": "units"}}, "required": ["base", "height"]}}]},
    {"id": "parallel_multiple_0", "question": [[{"role": "user", "content": "Hypotenuse of 3 and 4, and a car route Paris to Lyon without tolls."}]],
     "function": [
         {"name": "math.hypot", "description": "Hypotenuse.", "parameters": {"type": "dict", "properties": {
             "x": {"type": "float"}, "y": {"type": "float"}, "z": {"type": "float", "default": 0}}, "required": ["x", "y"]}},
         {"name": "geo.route", "description": "Route.", "parameters": {"type": "dict", "properties": {
             "stops": {"type": "tuple", "items": {"type": "string"}},
             "opts": {"type": "dict", "properties": {"avoid": {"type": "string"}}},
             "mode": {"type": "any"}}, "required": ["stops"]}}]},
    {"id": "live_multiple_3-1-0", "question": [[{"role": "system", "content": "Be brief."},
                                                {"role": "user", "content": "Play jazz."}]],
     "function": [{"name": "play", "description": "Play.", "parameters": {"type": "dict", "properties": {
         "genre": {"type": "string"}}, "required": ["genre"]}},
         {"name": "stop", "description": "Stop.", "parameters": {"type": "dict", "properties": {}}}]},
    {"id": "irrelevance_0", "question": [[{"role": "user", "content": "Who won the 1998 world cup?"}]],
     "function": [{"name": "calculate_triangle_area", "description": "Triangle area.", "parameters": {
         "type": "dict", "properties": {"base": {"type": "integer"}}, "required": ["base"]}}]},
]
BFCL_ANSWERS = [
    {"id": "simple_0", "ground_truth": [{"calculate_triangle_area": {"base": [10], "height": [5], "unit": ["units", ""]}}]},
    {"id": "parallel_multiple_0", "ground_truth": [
        {"math.hypot": {"x": [3.0], "y": [4.0], "z": ["", 0]}},
        {"geo.route": {"stops": [["Paris", "Lyon"]], "opts": [{"avoid": ["tolls", "toll roads"]}], "mode": ["car", "driving"]}}]},
    {"id": "live_multiple_3-1-0", "ground_truth": [{"play": {"genre": ["jazz", "Jazz music"]}}]},
]


def _write(path: Path, rows: list, as_array: bool = False) -> Path:
    if as_array:
        path.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    else:
        write_jsonl(path, rows)
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, tuple[Path, str | None]]:
    return {
        "toolace": (_write(tmp_path / "toolace.json", TOOLACE, as_array=True), None),
        "xlam": (_write(tmp_path / "xlam.json", XLAM, as_array=True), None),
        "openai": (_write(tmp_path / "openai.jsonl", OPENAI), None),
        "sharegpt": (_write(tmp_path / "sharegpt.json", SHAREGPT, as_array=True), None),
        "bfcl": (_write(tmp_path / "BFCL_v4_mix.json", BFCL_QUESTIONS),
                 str(_write(tmp_path / "possible_answer.json", BFCL_ANSWERS))),
    }


def _gold_passes(s: Sample) -> bool:
    output = format_calls(s.gold_calls()) if s.answer else (s.text or "")
    tools = [t.model_dump() for t in s.tools]
    return check(output, tools, s.answer, s.checker_category()).valid


# --------------------------------------------------------------------------------------
# Readers


def test_toolace_dialogue_becomes_one_sample_per_assistant_turn(files):
    samples = cv.convert("toolace", str(files["toolace"][0]))
    by_id = {s.id: s for s in samples}
    assert list(by_id) == ["toolace-0-0", "toolace-0-1", "toolace-0-2", "toolace-0-3", "toolace-1", "toolace-2"]
    first = by_id["toolace-0-0"]
    assert first.category == "parallel_multiple" and first.source == "toolace"
    assert first.answer == [
        {"Market_Trends_API": {"trend_type": ["INDEXES"], "filters": [{"min_change": [1.5]}]}},
        {"get_weather": {"city": ["Oslo"], "days": [3], "tags": [["wind", "rain"]]}},
    ]
    assert first.gold_calls()[0].arguments == {"trend_type": "INDEXES", "filters": {"min_change": 1.5}}
    assert [m.role for m in first.messages] == ["user"]  # ToolACE's generic system prompt is dropped
    # Python-style types become JSON Schema, recursively
    mt = first.tools[0].parameters
    assert mt["type"] == "object" and mt["properties"]["filters"]["type"] == "object"
    assert mt["properties"]["filters"]["properties"]["min_change"]["type"] == "number"
    wp = first.tools[1].parameters["properties"]
    assert [wp[k]["type"] for k in ("city", "days", "hourly", "tags")] == ["string", "integer", "boolean", "array"]
    # later turns: text after a tool result, then a second call turn
    assert by_id["toolace-0-1"].category == "multi_turn" and by_id["toolace-0-1"].answer is None
    assert by_id["toolace-0-1"].text == "Indexes are up and Oslo will be windy."
    third = by_id["toolace-0-2"]
    assert third.category == "multi_turn" and third.answer == [{"get_weather": {"city": ["Bergen"], "hourly": [True]}}]
    assert [m.role for m in third.messages] == ["user", "assistant", "tool", "assistant", "user"]
    assert third.messages[1].tool_calls[0].name == "Market_Trends_API"  # made callable: see safe_name
    assert third.meta == {"dialogue": "toolace-0", "turn": 2}
    # a first turn that makes no call: irrelevance, with the refusal as text
    refusal = by_id["toolace-1"]
    assert refusal.category == "irrelevance" and refusal.answer == [] and refusal.text.startswith("Sorry")
    assert by_id["toolace-2"].category == "multiple"  # one call, two tools listed
    assert all(_gold_passes(s) for s in samples if s.answer is not None)


def test_toolace_keep_system_and_extract_tools():
    tools, rest = cv.extract_tools_from_text(TOOLACE_SYSTEM)
    assert [t["name"] for t in tools] == ["Market Trends API", "get_weather"]
    assert "[{" not in rest and "expert in composing functions" in rest
    samples = cv.from_toolace(TOOLACE[2], 0, keep_system=True)
    assert samples[0].messages[0].role == "system"


def test_xlam_types_defaults_and_parallel(files):
    samples = cv.convert("xlam", str(files["xlam"][0]))
    a, b = samples
    assert a.id == "xlam-7" and a.category == "parallel" and len(a.answer) == 2
    props = a.tools[0].parameters
    assert props["properties"]["type"]["type"] == "string" and props["required"] == []  # has a default
    assert b.category == "multiple"
    sp = b.tools[0].parameters
    assert sp["properties"]["nums"] == {"description": "Numbers", "type": "array", "items": {"type": "integer"}}
    assert sp["required"] == ["nums"]
    mp = b.tools[1].parameters
    assert mp["properties"]["nums"]["items"] == {"type": "number"}
    assert mp["properties"]["strict"]["type"] == "boolean" and mp["required"] == ["nums"]  # "bool, optional"
    assert all(_gold_passes(s) for s in samples)


def test_openai_arguments_as_string_or_dict(files):
    samples = cv.convert("openai", str(files["openai"][0]))
    assert [s.id for s in samples] == ["openai-0-0", "openai-0-1", "openai-1"]
    first = samples[0]
    assert first.category == "parallel_multiple"
    assert first.answer == [{"get_weather": {"city": ["Paris"], "unit": ["c"]}}, {"get_time": {"tz": ["CET"]}}]
    assert [m.role for m in first.messages] == ["system", "user"]
    summary = samples[1]
    assert [m.role for m in summary.messages] == ["system", "user", "assistant", "tool", "tool"]
    assert summary.messages[3].name == "get_weather"
    assert json.loads(summary.messages[4].content) == {"time": "10:00"}  # structured result kept as JSON text
    assert samples[2].category == "simple"
    assert all(_gold_passes(s) for s in samples if s.answer is not None)


def test_sharegpt_function_call_single_or_list(files):
    samples = cv.convert("sharegpt", str(files["sharegpt"][0]))
    assert [s.category for s in samples] == ["parallel_multiple", "multi_turn", "multi_turn", "multi_turn"]
    assert samples[0].messages[0].role == "system"
    assert samples[0].answer == [{"search_hotels": {"city": ["Rome"], "nights": [2]}},
                                 {"search_hotels": {"city": ["Milan"], "nights": [2]}}]
    assert samples[2].answer == [{"book_hotel": {"hotel_id": ["h1"]}}]


def test_bfcl_keeps_ground_truth_verbatim(files):
    path, answers = files["bfcl"]
    samples = cv.convert("bfcl", str(path), answers=answers)
    by_id = {s.id: s for s in samples}
    assert list(by_id) == ["simple_0", "parallel_multiple_0", "live_multiple_3-1-0", "irrelevance_0"]
    for s in samples[:3]:
        assert s.answer == next(a["ground_truth"] for a in BFCL_ANSWERS if a["id"] == s.id)
    pm = by_id["parallel_multiple_0"]
    assert pm.category == "parallel_multiple"
    props = {t.name: t.parameters["properties"] for t in pm.tools}
    assert props["math.hypot"]["x"]["type"] == "number"
    assert props["geo.route"]["stops"]["type"] == "array"
    assert props["geo.route"]["opts"]["type"] == "object"
    assert props["geo.route"]["mode"]["type"] == "string"  # BFCL's any
    assert pm.gold_calls()[1].arguments == {"stops": ["Paris", "Lyon"], "opts": {"avoid": "tolls"}, "mode": "car"}
    assert by_id["simple_0"].category == "simple" and by_id["simple_0"].gold_calls()[0].arguments == {
        "base": 10, "height": 5, "unit": "units"}
    assert by_id["live_multiple_3-1-0"].category == "multiple"
    assert [m.role for m in by_id["live_multiple_3-1-0"].messages] == ["system", "user"]
    irr = by_id["irrelevance_0"]
    assert irr.category == "irrelevance" and irr.answer == [] and irr.text is None
    for s in samples:
        assert _gold_passes(s), s.id
        # BFCL's own category of each entry is the checker category we derive
        assert s.checker_category() == cv.bfcl_category_of(s.id).replace("live_", "")


def test_bfcl_unsupported_entries_are_reported_not_dropped(tmp_path: Path):
    rows = BFCL_QUESTIONS[:1] + [
        {"id": "live_relevance_1-1-0", "question": [[{"role": "user", "content": "x"}]], "function": []},
        {"id": "multi_turn_base_0", "question": [[{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]],
         "function": [], "involved_classes": ["GorillaFileSystem"]},
        {"id": "simple_9", "question": [[{"role": "user", "content": "y"}]], "function": BFCL_QUESTIONS[0]["function"]},
    ]
    path = _write(tmp_path / "q.jsonl", rows)
    answers = str(_write(tmp_path / "a.jsonl", BFCL_ANSWERS[:1]))
    with pytest.raises(DataError, match=r"q\.jsonl:2: unsupported BFCL category: live_relevance"):
        cv.convert("bfcl", str(path), answers=answers)
    report = ConversionReport()
    samples = cv.convert("bfcl", str(path), answers=answers, skip_invalid=True, report=report)
    assert [s.id for s in samples] == ["simple_0"]
    assert report.records == 4 and report.converted == 1 and report.n_skipped == 3
    reasons = [r for _, r in report.skipped]
    assert "multi-turn" in reasons[1] and "no possible answer for simple_9" in reasons[2]


def test_bad_records_name_their_location(tmp_path: Path):
    rows = [XLAM[0], {"query": "q", "tools": "[{bad json", "answers": "[]"},
            {"query": "q", "tools": "[]", "answers": json.dumps([{"name": "ghost", "arguments": {}}])},
            {"id": 7, "query": "dup", "tools": XLAM[0]["tools"], "answers": "[]"}]
    path = _write(tmp_path / "x.jsonl", rows)
    with pytest.raises(DataError) as e:
        cv.convert("xlam", str(path))
    assert str(e.value).startswith(f"{path}:2: tools is not valid JSON")
    report = ConversionReport()
    samples = cv.convert("xlam", str(path), skip_invalid=True, report=report)
    assert [s.id for s in samples] == ["xlam-7"]
    assert [loc for loc, _ in report.skipped] == [f"{path}:2", f"{path}:3", f"{path}:4"]
    assert "'ghost', which is not among the sample's tools" in report.skipped[1][1]
    assert "duplicate sample id 'xlam-7'" in report.skipped[2][1]


def test_unknown_format_and_stray_answers():
    with pytest.raises(DataError, match="unknown input format"):
        cv.convert("alpaca", "x.jsonl")
    with pytest.raises(DataError, match="only for the bfcl format"):
        cv.convert("xlam", "x.jsonl", answers="a.json")
    with pytest.raises(DataError, match="unknown output format"):
        ex.export("csv", [])


def test_malformed_toolace_call_turn_is_an_error():
    bad = {"system": TOOLACE_SYSTEM, "conversations": [{"from": "user", "value": "hi"},
                                                       {"from": "assistant", "value": "[get_weather(city='Oslo']"}]}
    with pytest.raises(nz.ConvertError, match="unparseable call turn"):
        cv.from_toolace(bad, 0)


def test_unsafe_function_names_are_made_callable():
    assert nz.safe_name("Market Trends API") == "Market_Trends_API"
    assert nz.safe_name("get-weather") == "get_weather"
    assert nz.safe_name("math.hypot") == "math.hypot"
    assert nz.safe_name("3d render") == "_3d_render"


@pytest.mark.parametrize(("t", "expected"), [
    ("str", ("string", None, False)), ("int", ("integer", None, False)), ("float", ("number", None, False)),
    ("dict", ("object", None, False)), ("tuple", ("array", None, False)), ("any", ("string", None, False)),
    ("List[int]", ("array", {"type": "integer"}, False)), ("str, optional", ("string", None, True)),
    ("Optional[float]", ("number", None, True)), ("int|None", ("integer", None, True)),
    ("Dict[str, Any]", ("object", None, False)), ("Boolean", ("boolean", None, False)),
])
def test_type_names_map_to_json_schema(t, expected):
    assert nz.map_type(t) == expected


# --------------------------------------------------------------------------------------
# Writers and the round trip


def _canonical(samples: list[Sample]) -> list[Sample]:
    """Samples with each answer reduced to its canonical call, which is all an export keeps."""
    return [s.model_copy(update={"answer": answer_from_calls(s.gold_calls())}) if s.answer else s for s in samples]


def _as_sharegpt_keeps_it(samples: list[Sample]) -> list[Sample]:
    """What sharegpt cannot hold, removed: tool-result names, and the split of consecutive
    results (LLaMA-Factory wants alternating turns, so they share one observation)."""
    out = []
    for s in samples:
        msgs: list[Message] = []
        for m in s.messages:
            if m.role == "tool" and msgs and msgs[-1].role == "tool":
                msgs[-1] = msgs[-1].model_copy(update={"content": msgs[-1].content + "\n" + m.content})
            else:
                msgs.append(m.model_copy(update={"name": None}) if m.role == "tool" else m)
        out.append(s.model_copy(update={"messages": msgs}))
    return out


@pytest.mark.parametrize("fmt", cv.READ_FORMATS)
@pytest.mark.parametrize("to", ex.WRITE_FORMATS)
def test_round_trip_convert_export_convert(files, tmp_path: Path, fmt: str, to: str):
    path, answers = files[fmt]
    first = cv.convert(fmt, str(path), answers=answers)
    exported = tmp_path / f"{fmt}.{to}.jsonl"
    write_jsonl(exported, ex.export(to, first))
    second = cv.convert(to, str(exported))
    expected = first
    if fmt == "bfcl":
        # extra acceptable values ("Jazz music", "" for optional) are not in a training record
        expected = _canonical(expected)
    if to == "sharegpt":
        expected = _as_sharegpt_keeps_it(expected)
    assert second == expected
    if fmt != "bfcl" and (to == "openai" or fmt != "openai"):
        assert second == first  # nothing at all was lost
    # ...and once more: the exported form is a fixed point
    again = tmp_path / f"{fmt}.{to}.2.jsonl"
    write_jsonl(again, ex.export(to, second))
    assert again.read_bytes() == exported.read_bytes()


def test_openai_export_shape_for_trl(files):
    samples = cv.convert("toolace", str(files["toolace"][0]))
    records = ex.to_openai(samples)
    assert [r["id"] for r in records] == ["toolace-0", "toolace-1", "toolace-2"]
    rec = records[0]
    assert set(rec) == {"id", "source", "messages", "tools"}
    call = rec["messages"][1]["tool_calls"][0]
    assert call == {"type": "function", "function": {"name": "Market_Trends_API",
                                                     "arguments": {"trend_type": "INDEXES", "filters": {"min_change": 1.5}}}}
    assert isinstance(call["function"]["arguments"], dict)  # chat templates want a dict
    assert rec["tools"][0]["type"] == "function" and rec["tools"][0]["function"]["name"] == "Market_Trends_API"
    assert rec["messages"][-1] == {"role": "assistant", "content": "It is 4 degrees in Bergen."}


def test_sharegpt_export_shape_for_llama_factory(files):
    samples = cv.convert("openai", str(files["openai"][0]))
    rec = ex.to_sharegpt(samples)[0]
    assert rec["system"] == "You are a helpful assistant."
    assert [t["from"] for t in rec["conversations"]] == ["human", "function_call", "observation", "gpt"]
    assert isinstance(rec["tools"], str) and json.loads(rec["tools"])[0]["name"] == "get_weather"
    calls = json.loads(rec["conversations"][1]["value"])
    assert calls == [{"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}},
                     {"name": "get_time", "arguments": {"tz": "CET"}}]
    # LLaMA-Factory wants alternating turns: the two tool results share one observation
    assert rec["conversations"][2]["value"].count("\n") == 1


def test_synth_samples_export_and_come_back(tmp_path: Path):
    from toolace_r.data.synth import synthesize

    samples = [s for split in synthesize(200, 3).values() for s in split]
    for to in ex.WRITE_FORMATS:
        back = cv.convert_records(to, [cv.Record(str(i), r) for i, r in enumerate(ex.export(to, samples))])
        assert back == _canonical(samples)


# --------------------------------------------------------------------------------------
# Wrong types anywhere in a record are reasons, never exceptions


def _paths(obj, prefix=()):
    yield prefix
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for k, v in items:
        yield from _paths(v, prefix + (k,))


def _replaced(obj, path, value):
    if not path:
        return value
    out = json.loads(json.dumps(obj))
    cur = out
    for k in path[:-1]:
        cur = cur[k]
    cur[path[-1]] = value
    return out


def _json_text_at(obj, path):
    """The value of the JSON text at ``path`` in ``obj``, if a JSON array or object is there."""
    for k in path:
        obj = obj[k]
    if not isinstance(obj, str) or obj[:1] not in "[{":
        return None
    try:
        return json.loads(obj)
    except json.JSONDecodeError:
        return None


def test_a_wrong_type_anywhere_is_a_reason():
    """Every field of every fixture record (and of the JSON strings inside them) replaced by a value
    of another type: the converter refuses with a reason of its own, or converts; nothing else."""
    values = [5, "x", None, [], {}, True, 1.5, [5], {"a": 5}, [{}], "[", "[5]"]
    answers = {a["id"]: a["ground_truth"] for a in BFCL_ANSWERS}
    n = 0
    for fmt, rows in (("toolace", TOOLACE), ("xlam", XLAM), ("openai", OPENAI), ("sharegpt", SHAREGPT),
                      ("bfcl", BFCL_QUESTIONS)):
        for row in rows:
            variants = [_replaced(row, p, v) for p in _paths(row) for v in values]
            for p in _paths(row):  # xlam and sharegpt keep tools and answers as JSON text
                inner = _json_text_at(row, p)
                if inner is not None:
                    variants += [_replaced(row, p, json.dumps(_replaced(inner, q, v)))
                                 for q in _paths(inner) for v in values]
            for variant in variants:
                n += 1
                try:
                    cv.convert_records(fmt, [Record("x.jsonl:1", variant)], answers=answers if fmt == "bfcl" else None)
                except RecordError as e:
                    assert "unexpected record shape" not in str(e), (fmt, variant, str(e))
    assert n > 3000


# --------------------------------------------------------------------------------------
# Chained calls within one user turn: every call step is a sample whose context holds the
# earlier calls and their results (the shape of the synthetic multi_step category)

CHAIN_TOOLS = [
    {"name": "find_contact", "description": "Find a contact.",
     "parameters": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}},
    {"name": "send_text", "description": "Text a contact.",
     "parameters": {"type": "object", "properties": {"contact_id": {"type": "string"}, "text": {"type": "string"}},
                    "required": ["contact_id", "text"]}},
]


@pytest.mark.parametrize("fmt", ["toolace", "sharegpt"])
def test_each_call_step_after_a_tool_result_is_one_sample(fmt):
    if fmt == "toolace":
        system = "You can call these functions:\n" + json.dumps(CHAIN_TOOLS) + "\nAnswer with [func(a=1)]."
        record = {"system": system, "conversations": [
            {"from": "user", "value": "Find Ana and text her 'on my way'."},
            {"from": "assistant", "value": "[find_contact(name='Ana')]"},
            {"from": "tool", "value": '[{"name": "find_contact", "results": {"contact_id": "C-77"}}]'},
            {"from": "assistant", "value": "[send_text(contact_id='C-77', text='on my way')]"},
            {"from": "tool", "value": '[{"name": "send_text", "results": {"sent": true}}]'},
            {"from": "assistant", "value": "Sent."}]}
        samples = cv.from_toolace(record, 0)
    else:
        record = {"tools": json.dumps(CHAIN_TOOLS), "conversations": [
            {"from": "human", "value": "Find Ana and text her 'on my way'."},
            {"from": "function_call", "value": json.dumps({"name": "find_contact", "arguments": {"name": "Ana"}})},
            {"from": "observation", "value": '{"contact_id": "C-77"}'},
            {"from": "function_call", "value": json.dumps({"name": "send_text", "arguments": {
                "contact_id": "C-77", "text": "on my way"}})},
            {"from": "observation", "value": '{"sent": true}'},
            {"from": "gpt", "value": "Sent."}]}
        samples = cv.from_sharegpt(record, 0)
    first, step, summary = samples
    assert first.category == "multiple" and [m.role for m in first.messages] == ["user"]
    # the second call: its context is everything before it, the first call and its result included
    assert step.id == f"{fmt}-0-1" and step.category == "multi_turn" and step.meta["turn"] == 1
    assert [m.role for m in step.messages] == ["user", "assistant", "tool"]
    assert step.messages[1].tool_calls[0].name == "find_contact" and "C-77" in step.messages[2].content
    assert step.answer == [{"send_text": {"contact_id": ["C-77"], "text": ["on my way"]}}]
    assert _gold_passes(step)
    assert summary.answer is None and summary.text == "Sent." and summary.messages[-1].role == "tool"
