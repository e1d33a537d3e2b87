"""The synthetic corpus's tool inventory file (toolace_r.data.synth_inventory)."""

import copy
import json
import sys
from pathlib import Path

import pytest

from toolace_r.data import synth_inventory as inv

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = None

SHIPPED = json.loads(inv.INVENTORY_PATH.read_text(encoding="utf-8"))


def _load(tmp_path: Path, data: dict) -> list:
    p = tmp_path / "tools.json"
    p.write_text(json.dumps(data))
    return inv.build_inventory(p)


def _tool(data: dict, name: str) -> dict:
    return next(t for t in data["tools"] if t["name"] == name)


def test_shipped_inventory_loads_in_file_order_with_types_kept():
    tools = inv.build_inventory()
    assert [t.name for t in tools] == [t["name"] for t in SHIPPED["tools"]]
    by_name = {t.name: t for t in tools}
    # ints stay ints and floats floats: the corpus writes them as given
    rate = next(p for p in by_name["calculate_loan_payment"].params if p.name == "rate")
    assert (rate.lo, rate.hi, rate.step) == (1, 12, 0.25) and type(rate.lo) is int
    address = next(p for p in by_name["ship_package"].params if p.name == "address")
    assert [s.name for s in address.sub] == ["street", "city", "zip"]
    avg = by_name["calculate_average"].params[0]
    assert avg.n_items == (3, 4) and isinstance(avg.n_items, tuple)
    # fresh objects on each call: a caller may not change what the next one reads
    tools[0].params[0].phr.append("x")
    assert inv.build_inventory()[0].params[0].phr != tools[0].params[0].phr


def test_pools_load_and_every_drawn_pool_exists():
    pools = inv.load_pools()
    assert pools["city"][0] == "Paris" and all(isinstance(v, str) for vs in pools.values() for v in vs)


def test_json_file_is_shipped_as_package_data():
    if tomllib is None:
        pytest.skip("tomllib needs Python 3.11")
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert "data/synth_tools.json" in pyproject["tool"]["setuptools"]["package-data"]["toolace_r"]


@pytest.mark.parametrize("edit, message", [
    (lambda d: _tool(d, "get_weather")["params"][0].update(pool="planets"),
     "get_weather: string city: unknown pool 'planets'"),
    (lambda d: _tool(d, "get_weather")["params"][0].update(colour="red"),
     "tool 'get_weather' param 'city': unknown keys ['colour']"),
    (lambda d: _tool(d, "get_weather")["params"][0].update(kind="text"),
     "tool 'get_weather' param 'city': kind 'text' is not one of"),
    (lambda d: _tool(d, "get_weather")["params"][0].update(required="yes"),
     "tool 'get_weather' param 'city': 'required' has the wrong type (str)"),
    (lambda d: _tool(d, "get_forecast")["params"][1].update(lo=True),
     "tool 'get_forecast' param 'days': 'lo' has the wrong type (bool)"),
    (lambda d: _tool(d, "get_weather").update(acts=["check {city}"]),
     "get_weather: give either nouns or acts"),
    (lambda d: _tool(d, "get_weather")["params"][0].update(phr=[]),
     "get_weather: city has no slot phrase for 'the weather'"),
    (lambda d: _tool(d, "get_stock_price")["params"][0].update(required=False),
     "get_stock_price: optional ticker cannot sit inside 'the stock price of {ticker}'"),
    (lambda d: _tool(d, "get_air_quality")["params"][1]["surf"].update(so2=["SO2"]),
     "get_air_quality: enum pollutant: surface words for values it does not have: ['so2']"),
    (lambda d: _tool(d, "ship_package")["params"][1]["sub"][0].update(pool="nowhere"),
     "ship_package.address: string street: unknown pool 'nowhere'"),
    (lambda d: d["tools"].append(copy.deepcopy(d["tools"][0])),
     "duplicate tool names in the inventory: ['get_weather']"),
])
def test_broken_inventories_fail_naming_the_tool_and_parameter(tmp_path, edit, message):
    data = copy.deepcopy(SHIPPED)
    edit(data)
    with pytest.raises(inv.InventoryError) as e:
        _load(tmp_path, data)
    assert message in str(e.value)


def test_unreadable_inventory_names_the_file(tmp_path):
    p = tmp_path / "tools.json"
    p.write_text("{not json")
    with pytest.raises(inv.InventoryError, match="cannot read the tool inventory"):
        inv.build_inventory(p)
