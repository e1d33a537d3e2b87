"""The multi-turn checker on real BFCL entries: ground truth passes; dropped, wrong and missing
calls fail with BFCL's labels; model text steps are decoded the way BFCL's runner decodes them."""

from __future__ import annotations

import pytest

from toolace_r.multiturn.checker import (CATEGORIES, EMPTY_TURN, FORCE_TERMINATED, INFERENCE_ERROR, RESPONSE_MISMATCH,
                                         STATE_MISMATCH, check_entry, load_category)


def one_step(turns):
    return [[list(t)] if t else [] for t in turns]


@pytest.mark.parametrize("category", CATEGORIES)
def test_ground_truth_is_valid(mt_source, mt_classes, category):
    pairs = load_category(mt_source, category)
    assert len(pairs) == 200
    for entry, gt in pairs[:3]:
        v = check_entry(entry, gt, one_step(gt), classes=mt_classes)
        assert v.valid, (entry["id"], v)
        # one call per step is the same answer
        assert check_entry(entry, gt, [[[c] for c in t] for t in gt], classes=mt_classes).valid


def test_miss_func_empty_turn_needs_no_call(mt_source, mt_classes):
    entry, gt = load_category(mt_source, "multi_turn_miss_func")[0]
    empty = [i for i, t in enumerate(gt) if not t]
    assert empty and "missed_function" in entry
    assert check_entry(entry, gt, one_step(gt), classes=mt_classes).valid


def test_dropped_call_is_a_state_mismatch(mt_base, mt_classes):
    entry, gt = mt_base[0]
    turns = [list(t) for t in gt]
    turns[0].remove("mkdir(dir_name='temp')")
    v = check_entry(entry, gt, one_step(turns), classes=mt_classes)
    assert not v.valid and v.error_type == STATE_MISMATCH and v.turn == 0
    assert "GorillaFileSystem" in v.error_message


def test_wrong_argument_of_a_read_only_call_is_a_response_mismatch(mt_base, mt_classes):
    entry, gt = mt_base[0]
    turns = [list(t) for t in gt]
    turns[1] = ["cd(folder='temp')", "grep(file_name='final_report.pdf', pattern='previous')"]
    v = check_entry(entry, gt, one_step(turns), classes=mt_classes)
    assert not v.valid and v.error_type == RESPONSE_MISMATCH and v.turn == 1
    assert v.details["missing_items"]


def test_turn_shape_errors(mt_base, mt_classes):
    entry, gt = mt_base[0]
    turns = one_step(gt)
    turns[2] = []
    assert check_entry(entry, gt, turns, classes=mt_classes).error_type == EMPTY_TURN
    # a step that decodes to no call is dropped, as BFCL's runner does
    turns[2] = ["I cannot do that.", []]
    assert check_entry(entry, gt, turns, classes=mt_classes).error_type == EMPTY_TURN
    assert check_entry(entry, gt, one_step(gt)[:-1], classes=mt_classes).error_type == FORCE_TERMINATED
    assert check_entry(entry, gt, "oops", classes=mt_classes).error_type == INFERENCE_ERROR


def test_extra_and_refused_calls_do_not_fail_a_correct_answer(mt_base, mt_classes):
    entry, gt = mt_base[0]
    turns = one_step(gt)
    turns[0].insert(0, ["_load_scenario(scenario={})", "no_such_tool(x=1)", "pwd()"])
    v = check_entry(entry, gt, turns, classes=mt_classes)
    assert v.valid
    assert v.execution[0]["model"][0][0].startswith("Error during execution: name '_load_scenario'")


def test_text_steps_are_decoded_and_positional_arguments_dropped(mt_base, mt_classes):
    entry, gt = mt_base[0]
    text = [[f"[{', '.join(t)}]"] for t in gt]
    v = check_entry(entry, gt, text, classes=mt_classes)
    # turn 2 is "sort('final_report.pdf')": BFCL's decoder drops the positional value, so sort() fails
    assert not v.valid and v.turn == 2 and v.error_type == RESPONSE_MISMATCH
    text[2] = ["```\n[sort(file_name='final_report.pdf')]\n```"]
    assert check_entry(entry, gt, text, classes=mt_classes).valid
