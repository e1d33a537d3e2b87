"""BFCL's multi-turn backends, loaded from the real wheel: scenario set-up, execution of parsed calls,
positional arguments, and the calls that are refused without running anything."""

from __future__ import annotations

import time

import pytest

from toolace_r.calls import parse_calls
from toolace_r.multiturn.envs import ERROR_PREFIX, Environment, parse_call_string


@pytest.fixture()
def fs_env(mt_base, mt_classes):
    entry, _ = mt_base[0]  # GorillaFileSystem + TwitterAPI; workspace/document/final_report.pdf
    return Environment.for_entry(entry, classes=mt_classes)


def test_loads_the_eight_backends(mt_classes):
    assert sorted(mt_classes) == sorted(["GorillaFileSystem", "MathAPI", "MessageAPI", "TwitterAPI", "TicketAPI",
                                         "TradingBot", "TravelAPI", "VehicleControlAPI"])


def test_positional_arguments_map_to_parameters(fs_env):
    assert fs_env.execute("cd(folder='document')") == '{"current_working_directory": "document"}'
    by_position = fs_env.execute("sort('final_report.pdf')")
    assert by_position.startswith('{"sorted_content"')
    assert fs_env.execute("sort(file_name='final_report.pdf')") == by_position
    spec = parse_call_string("mv('final_report.pdf', destination='x.pdf')")
    assert spec.args == ("final_report.pdf",) and spec.kwargs == {"destination": "x.pdf"}
    assert "moved" in fs_env.execute(spec)
    # more positional values than parameters: refused at binding, the method never runs
    assert fs_env.execute("sort('a', 'b', 'c')").startswith(ERROR_PREFIX + "sort()")


def test_decoded_calls_execute(fs_env):
    parsed = parse_calls("[cd(folder='document'), ls()]")
    results = fs_env.execute_all(parsed.calls)
    assert results[0] == '{"current_working_directory": "document"}'
    assert "final_report.pdf" in results[1]


def test_private_and_unknown_names_are_refused(fs_env):
    before = fs_env.state()
    for call in ("_load_scenario(scenario={})", "__init__()", "no_such_tool(x=1)", "os.system('ls')",
                 "GorillaFileSystem._load_scenario({})"):
        assert fs_env.execute(call).startswith(ERROR_PREFIX + "name '"), call
    assert fs_env.execute("run(cmd='ls')") == ERROR_PREFIX + "Function call run is not allowed."
    assert fs_env.state() == before


def test_non_literal_values_are_refused(fs_env):
    before = fs_env.state()
    assert fs_env.execute("cd(folder=pwd())").startswith(ERROR_PREFIX + "a non-literal")
    assert fs_env.execute("cd(**{'folder': 'document'})").startswith(ERROR_PREFIX)
    assert fs_env.execute("[cd(folder='document')]").startswith(ERROR_PREFIX)
    assert fs_env.state() == before


class _Probe:
    """A stand-in backend (stateless name, so no scenario is loaded) that records what ran."""

    calls: list = []

    def _hidden(self):
        _Probe.calls.append("_hidden")

    def public(self, a, b=2):
        _Probe.calls.append(("public", a, b))
        return {"a": a, "b": b}

    def slow(self):
        time.sleep(5)

    def mutate(self, items):
        items.append(1)
        return items


def test_only_public_methods_run_and_arguments_are_copied():
    _Probe.calls = []
    env = Environment({}, ["MathAPI"], classes={"MathAPI": _Probe}, timeout_s=0.3)
    assert env.execute("_hidden()").startswith(ERROR_PREFIX)
    assert env.execute("public(1)") == '{"a": 1, "b": 2}'
    assert env.execute("public(1, b=3, c=4)").startswith(ERROR_PREFIX + "public()")
    assert _Probe.calls == [("public", 1, 2)]
    spec = parse_call_string("mutate([0])")
    assert env.execute(spec) == "[0, 1]" and spec.args == ([0],)
    t = time.perf_counter()
    assert "ran longer than" in env.execute("slow()")
    assert time.perf_counter() - t < 3
