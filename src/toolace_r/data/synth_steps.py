"""The synthetic ``multi_step`` category's world: small stateful tool pairs ("chains").

A chain is a *find* tool and an *act* tool. The find tool's result holds an id that the act
tool needs and that the request never says (``"Q-4821"``); when the result lists several
items, the request names the wanted one by another field (its title, its time), so the right
next call can only be written by reading the tool result. A multi_step sample is the
conversation after the find call and its result, and its target is the act call.

These tools are kept apart from ``synth_tools.json`` on purpose: adding them to the
inventory would change its distractor pools, and with them every sample of the other
categories (the default corpus must stay byte-identical). The chain marked ``held_out`` is
used only by the test split's ``unseen_tool`` part.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from toolace_r.data.schema import ToolSpec
from toolace_r.data.synth_phrases import NUMBER_WORDS, POOLS

STAY_NAMES = ["Blue Inn", "Harbor House", "Sun Lodge", "Park Hotel", "Old Mill", "Sea View", "Pine Cabin", "City Loft"]


@dataclass(frozen=True)
class Chain:
    """``find``/``act``: (name, description, {param: (JSON type, description)}), every
    parameter required. ``find_phr``: clauses wording the find call, ``{param}`` placeholders.
    ``act_phr``: clauses wording the act call; ``{pick}`` names the wanted item of a list
    result, other placeholders are the act tool's request-given parameters. ``pool``: the
    value pool of each placeholder (``int`` for a small count). ``key``: the result field the
    act call takes as ``act_key``. ``items``: (min, max) items in the result (1: one object);
    ``pick``: the field, drawn from ``pick_pool``, that the request names the item by."""

    name: str
    find: tuple[str, str, dict[str, tuple[str, str]]]
    act: tuple[str, str, dict[str, tuple[str, str]]]
    find_phr: list[str]
    act_phr: list[str]
    pool: dict[str, str]
    key: str
    act_key: str
    prefix: str
    items: tuple[int, int] = (1, 1)
    pick: str = ""
    pick_pool: str = ""
    extra: dict[str, str] = field(default_factory=dict)  # more result fields: field -> pool
    held_out: bool = False


CHAINS = [
    Chain("orders",
          ("lookup_orders", "List a customer's recent orders.", {"customer": ("string", "Customer name")}),
          ("cancel_order", "Cancel an order by its id.", {"order_id": ("string", "Order id from lookup_orders")}),
          ["look up the orders of {customer}", "find {customer}'s recent orders", "check what {customer} ordered"],
          ["cancel the {pick} one", "cancel the order for the {pick}", "call off the {pick} order"],
          {"customer": "person"}, "order_id", "order_id", "Q-", (2, 3), "item", "product",
          {"status": "_status"}),
    Chain("stays",
          ("search_stays", "Find places to stay in a city.", {"city": ("string", "City name")}),
          ("reserve_stay", "Reserve a stay for some nights.",
           {"stay_id": ("string", "Stay id from search_stays"), "nights": ("integer", "Number of nights")}),
          ["search for places to stay in {city}", "find hotels in {city}", "look for a room in {city}"],
          ["book {pick} for {nights} nights", "reserve {pick} for {nights} nights"],
          {"city": "city", "nights": "int"}, "stay_id", "stay_id", "H-", (2, 3), "name", "_stays"),
    Chain("contacts",
          ("find_contact", "Find a contact by name.", {"name": ("string", "Contact name")}),
          ("send_text", "Send a text to a contact.",
           {"contact_id": ("string", "Contact id from find_contact"), "text": ("string", "Message text")}),
          ["find the contact {name}", "look up {name} in my contacts", "search my contacts for {name}"],
          ["text them '{text}'", "send them '{text}'", "message them saying '{text}'"],
          {"name": "person", "text": "phrase"}, "contact_id", "contact_id", "C-"),
    Chain("playlists",
          ("find_playlist", "Find one of my playlists by name.", {"title": ("string", "Playlist name")}),
          ("add_track", "Add a song to a playlist.",
           {"playlist_id": ("string", "Playlist id from find_playlist"), "song": ("string", "Song title")}),
          ["find my {title} playlist", "open the playlist {title}", "look up my playlist {title}"],
          ["add {song} to it", "put {song} on it", "add the song {song} to it"],
          {"title": "playlist", "song": "song"}, "playlist_id", "playlist_id", "PL-"),
    Chain("flights",
          ("search_routes", "List flights between two airports today.",
           {"origin": ("string", "Departure airport code"), "destination": ("string", "Arrival airport code")}),
          ("book_seats", "Book seats on a flight.",
           {"flight_id": ("string", "Flight id from search_routes"), "seats": ("integer", "Number of seats")}),
          ["search flights from {origin} to {destination}", "find flights {origin} to {destination}"],
          ["book {seats} seats on the {pick} one", "get {seats} seats on the {pick} flight"],
          {"origin": "airport", "destination": "airport", "seats": "int"}, "flight_id", "flight_id", "FL-",
          (2, 3), "departs", "time"),
    Chain("documents",
          ("find_document", "Search my documents by title.", {"query": ("string", "Words in the title")}),
          ("share_document", "Share a document with someone by email.",
           {"doc_id": ("string", "Document id from find_document"), "email": ("string", "Email address")}),
          ["search my files for {query}", "find the document called {query}"],
          ["share {pick} with {email}", "send {pick} to {email}"],
          {"query": "file_query", "email": "email"}, "doc_id", "doc_id", "D-", (2, 3), "title", "file_name",
          held_out=True),
]
_LOCAL_POOLS = {"_status": ["shipped", "pending", "packed"], "_stays": STAY_NAMES}


def _spec(part: tuple[str, str, dict[str, tuple[str, str]]]) -> ToolSpec:
    name, desc, params = part
    return ToolSpec(name=name, description=desc, parameters={
        "type": "object",
        "properties": {p: {"type": t, "description": d} for p, (t, d) in params.items()},
        "required": list(params),
    })


def chain_specs(chain: Chain) -> tuple[ToolSpec, ToolSpec]:
    return _spec(chain.find), _spec(chain.act)


def _pool(name: str) -> list[str]:
    return _LOCAL_POOLS.get(name) or POOLS[name]


def _new_id(rng: random.Random, prefix: str, taken: set[str]) -> str:
    while True:
        v = f"{prefix}{rng.randint(100, 9999)}"
        if v not in taken:
            taken.add(v)
            return v


@dataclass
class Step:
    """One drawn chain instance: the request's two clauses, both calls and the find result."""

    find_clause: str
    act_clause: str
    find_args: dict[str, Any]
    result: str  # the find tool's result, as JSON text
    act_args: dict[str, Any]


def draw_step(chain: Chain, rng: random.Random) -> Step:
    """Values, the find result (the wanted item at a random place among others) and the act
    call that takes the wanted item's id."""
    values: dict[str, Any] = {}
    words: dict[str, str] = {}
    for ph, pool in chain.pool.items():
        if pool == "int":
            n = rng.randint(2, 6)
            values[ph], words[ph] = n, (NUMBER_WORDS[n] if rng.random() < 0.4 else str(n))
        else:
            avoid = set(values.values())
            values[ph] = words[ph] = rng.choice([v for v in _pool(pool) if v not in avoid])
    ids: set[str] = set()
    n_items = rng.randint(*chain.items)
    if chain.pick:
        picks = rng.sample(_pool(chain.pick_pool), n_items)
        items = [{chain.key: _new_id(rng, chain.prefix, ids), chain.pick: p,
                  **{f: rng.choice(_pool(pl)) for f, pl in chain.extra.items()}} for p in picks]
        wanted = rng.randrange(n_items)
        words["pick"] = picks[wanted]
        result: Any = items
    else:
        item = {chain.key: _new_id(rng, chain.prefix, ids)}
        items, wanted, result = [item], 0, item
    find_params = chain.find[2]
    find_args = {p: values[p] for p in find_params}
    act_args = {chain.act_key: items[wanted][chain.key]}
    act_args.update({p: values[p] for p in chain.act[2] if p != chain.act_key})
    return Step(rng.choice(chain.find_phr).format(**words), rng.choice(chain.act_phr).format(**words),
                find_args, json.dumps(result), act_args)
