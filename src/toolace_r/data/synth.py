"""A procedural tool-use corpus: no model, no network, byte-identical for the same seed.

It exists to train and test a from-scratch model of about 2M parameters on a CPU (see
``method.md`` section 5), so requests are short (about 10-25 words), values are short, and
every request is built from reusable phrase *fragments*:

    request = opener + clause [+ connective + clause ...] + closer + punctuation
    clause  = an action phrase of the tool (a lookup verb + the tool's noun phrase, or the
              tool's own verb phrase) + one slot phrase per argument given, in random order

A *template* is one choice of frame, opener, closer (and connective for several clauses).
About 15% of the templates are held out of train/dev: the test split's ``unseen_template``
samples use them, so they are new combinations of fragments that all occur in training,
not new words. Some tools (one in most domains) are held out entirely: test samples with
``unseen_tool`` call them, and they never appear in train or dev, not even as distractors.

Argument values are *copied* from the request (cities, names, codes), *converted* (number
words: "three" -> 3) or *chosen* (enums named by a synonym: "by bike" -> "cycling").
Categories: ``simple`` (one tool, one call), ``multiple`` (2-6 candidate tools, often from
the same domain), ``parallel`` (one tool called 2-3 times), ``parallel_multiple`` (2-3
tools called, with distractors) and ``irrelevance`` (no listed tool fits; often tools of
the same domain). Answers are BFCL possible answers: an optional parameter the request does
not mention is ``["", default]`` (omitted, or given as its default).

Determinism: every sample has its own ``random.Random`` seeded from a string (seed, split,
part, index): Python seeds a str through SHA-512, so the corpus does not depend on hash
randomisation, and iteration is over lists and sorted keys only.
"""

from __future__ import annotations

import hashlib
import json
import random
import string
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from toolace_r.data.schema import Message, Sample, ToolSpec, to_possible_value

SYNTH_CATEGORIES = ("simple", "multiple", "parallel", "parallel_multiple", "irrelevance")
DEFAULT_SHARES = {"simple": 0.2, "multiple": 0.25, "parallel": 0.15, "parallel_multiple": 0.2, "irrelevance": 0.2}
DEFAULT_SPLITS = {"train": 0.8, "dev": 0.1, "test": 0.1}
# Test split: in-distribution, held-out templates, held-out tools.
DEFAULT_TEST_MIX = {"seen": 0.5, "unseen_template": 0.25, "unseen_tool": 0.25}
HELD_OUT_TEMPLATE_SHARE = 0.15
IRRELEVANCE_TEXT = "None of the available tools can do that."
GENERATOR_VERSION = 1

# --------------------------------------------------------------------------------------
# Value pools (short values, so that copying is cheap for a small model)

POOLS: dict[str, list[str]] = {
    "city": ["Paris", "Rome", "Oslo", "Lima", "Cairo", "Tokyo", "Berlin", "Madrid", "Dublin", "Vienna",
             "Prague", "Lisbon", "Boston", "Denver", "Austin", "Seattle", "Chicago", "Miami", "Toronto",
             "Sydney", "Delhi", "Seoul", "Quito", "Nairobi", "Athens", "Warsaw", "Zurich", "Geneva",
             "Havana", "Bogota", "Dakar", "Accra", "Hanoi", "Manila", "Osaka", "Kyoto", "Perth", "Dallas",
             "Phoenix", "Atlanta", "Helsinki", "Munich", "Milan", "Porto", "Seville", "Riga", "Sofia",
             "Tunis", "Lagos", "Santiago"],
    "person": ["Ana", "Ben", "Carla", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kenji",
               "Lena", "Marco", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera",
               "Will", "Yara", "Zoe", "Leo", "Mia", "Noah", "Iris", "Pablo"],
    "airport": ["JFK", "LHR", "CDG", "FCO", "NRT", "SFO", "LAX", "MAD", "BER", "DXB", "AMS", "SIN", "ORD",
                "YYZ", "GRU", "BCN", "IST", "DUB", "LIS", "ATH"],
    "date": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "today",
             "tomorrow", "May 3", "June 14", "July 20", "August 8", "October 2", "December 5", "March 9"],
    "time": ["9am", "10am", "noon", "2pm", "3:30pm", "6pm", "8pm", "7:15am", "11am", "5pm", "4pm", "8:30am"],
    "nationality": ["French", "German", "Indian", "Brazilian", "Mexican", "Kenyan", "Canadian", "Japanese",
                    "Italian", "Chilean", "Polish", "Egyptian"],
    "country": ["France", "Japan", "Brazil", "Kenya", "Canada", "India", "Spain", "Mexico", "Egypt", "Norway",
                "Peru", "Vietnam", "Ghana", "Chile", "Greece", "Poland"],
    "ticker": ["AAPL", "MSFT", "TSLA", "AMZN", "NVDA", "GOOG", "META", "IBM", "ORCL", "INTC", "NFLX", "AMD"],
    "event": ["standup", "dentist visit", "team lunch", "yoga", "piano lesson", "budget review", "book club",
              "date night", "school run", "gym session", "vet visit", "demo day"],
    "task": ["call mom", "pay rent", "water the plants", "buy milk", "take my pills", "feed the cat",
             "submit the report", "book tickets", "renew my passport", "back up my laptop"],
    "phrase": ["running late", "see you soon", "call me back", "on my way", "happy birthday", "dinner is ready",
               "meeting moved", "good luck today", "thank you", "good morning", "where is the station",
               "how much is it"],
    "email": ["ana@mail.com", "ben@mail.com", "carla@work.org", "david@mail.com", "emma@work.org",
              "hugo@mail.com", "ines@work.org", "lena@mail.com", "omar@work.org", "priya@mail.com",
              "sam@work.org", "zoe@mail.com"],
    "subject": ["invoice", "weekly report", "trip plans", "party", "contract", "schedule", "budget", "feedback"],
    "group": ["Hikers", "Family", "Book Club", "Gym Buddies", "Project X", "Roommates", "Team Alpha", "Neighbours"],
    "product": ["headphones", "running shoes", "laptop", "desk lamp", "backpack", "kettle", "phone case",
                "yoga mat", "coffee maker", "umbrella", "smart watch", "blender"],
    "order_id": ["A1027", "B2231", "C3145", "D4410", "E5092", "F6178", "G7263", "H8390", "K9021", "M1150"],
    "coupon": ["SAVE10", "SPRING20", "WELCOME5", "FREESHIP", "VIP15", "BONUS25", "HALFOFF", "DEAL30"],
    "street": ["Elm Street", "Oak Road", "Main Street", "Park Lane", "Hill Road", "Lake Drive", "Rose Avenue",
               "Mill Lane", "King Street", "River Road"],
    "zip": ["75001", "10115", "00184", "02139", "94103", "60601", "28013", "1010", "8001", "30301"],
    "restaurant": ["Casa Rosa", "Blue Door", "Green Leaf", "Golden Dragon", "Little Italy", "Sakura", "El Toro",
                   "The Oak"],
    "dish": ["pasta", "sushi", "tacos", "ramen", "curry", "pizza", "salad", "paella", "falafel", "pancakes",
             "dumplings", "risotto"],
    "food": ["rice", "eggs", "oats", "salmon", "tofu", "lentils", "spinach", "bananas", "almonds", "cheese"],
    "artist": ["Adele", "Drake", "Shakira", "Coldplay", "Queen", "Muse", "Sia", "Abba", "Oasis", "Blur",
               "Beyonce", "Metallica"],
    "song": ["Yellow", "Hello", "Halo", "Imagine", "Roar", "Believer", "Dreams", "Toxic", "Creep", "Hurt"],
    "playlist": ["Chill", "Workout", "Road Trip", "Focus", "Party", "Sunday", "Sleep", "Summer"],
    "genre": ["jazz", "rock", "pop", "blues", "salsa", "techno", "reggae", "classical", "folk", "metal"],
    "movie": ["Up", "Heat", "Alien", "Jaws", "Rocky", "Psycho", "Fargo", "Memento", "Inception", "Frozen",
              "Gravity", "Coco"],
    "team": ["Lakers", "Celtics", "Arsenal", "Chelsea", "Barcelona", "Juventus", "Yankees", "Dodgers",
             "Warriors", "Bayern"],
    "player": ["Messi", "Curry", "Mbappe", "Kane", "LeBron", "Ohtani", "Brady", "Serena", "Nadal", "Bolt"],
    "symptom": ["headache", "fever", "cough", "sore throat", "rash", "nausea", "back pain", "dizziness"],
    "topic": ["climate", "elections", "space", "football", "AI", "markets", "health", "science", "music",
              "travel"],
    "room": ["kitchen", "bedroom", "garage", "office", "living room", "hallway", "basement", "bathroom"],
    "job": ["nurse", "data analyst", "chef", "teacher", "web developer", "plumber", "pilot", "designer",
            "accountant", "electrician"],
    "job_id": ["J100", "J245", "J318", "J472", "J509", "J633", "J781", "J902"],
    "resume_file": ["resume.pdf", "cv.docx", "resume_v2.pdf", "cv_2024.pdf"],
    "word": ["serendipity", "ephemeral", "ubiquitous", "candid", "frugal", "resilient", "verbose", "zealous",
             "lucid", "mellow"],
    "language": ["French", "Spanish", "German", "Italian", "Japanese", "Korean", "Hindi", "Arabic", "Dutch",
                 "Greek"],
    "subject_course": ["algebra", "chemistry", "history", "biology", "physics", "statistics", "economics",
                       "drawing"],
    "file_query": ["budget", "invoice", "holiday photos", "resume", "contract", "notes", "tax forms", "slides"],
    "file_name": ["report.pdf", "notes.txt", "budget.xlsx", "photo.png", "slides.pptx", "plan.docx",
                  "draft.md", "data.csv"],
    "alarm_code": ["1234", "4321", "2580", "1111", "9876", "5050"],
}

NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
                "twenty"]

CURRENCIES = {"USD": ["USD", "dollars", "US dollars"], "EUR": ["EUR", "euros"], "GBP": ["GBP", "pounds"],
              "JPY": ["JPY", "yen"], "CHF": ["CHF", "Swiss francs"], "CAD": ["CAD", "Canadian dollars"],
              "INR": ["INR", "rupees"], "MXN": ["MXN", "pesos"]}

# --------------------------------------------------------------------------------------
# Tool inventory


@dataclass
class Param:
    """One parameter: its JSON Schema type and how a request mentions it.

    ``kind``: string | enum | integer | number | boolean | array | object.
    ``phr``: slot patterns with ``{v}`` (object: ``{sub-name}``; boolean: phrases meaning
    True). ``surf``: enum value -> the phrases that name it (default: the value itself)."""

    name: str
    kind: str
    desc: str
    required: bool = True
    phr: list[str] = field(default_factory=list)
    pool: str = ""
    values: list[Any] = field(default_factory=list)
    surf: dict[str, list[str]] = field(default_factory=dict)
    default: Any = None
    lo: float = 0
    hi: float = 0
    step: float = 1
    words: bool = True  # integers up to 20 may be written as words
    items: str = ""  # array: a pool name, or "number"
    n_items: tuple[int, int] = (2, 3)
    sub: list["Param"] = field(default_factory=list)
    distinct: str = ""  # parameters sharing this tag take different values in one call
    phr_false: list[str] = field(default_factory=list)

    def schema(self) -> dict[str, Any]:
        d: dict[str, Any]
        if self.kind == "enum":
            d = {"type": "string", "enum": list(self.values)}
        elif self.kind == "array":
            d = {"type": "array", "items": {"type": "number" if self.items == "number" else "string"}}
        elif self.kind == "object":
            d = {"type": "object", "properties": {s.name: s.schema() for s in self.sub},
                 "required": [s.name for s in self.sub if s.required]}
        else:
            d = {"type": self.kind}
        d["description"] = self.desc
        if not self.required and self.default is not None:
            d["default"] = self.default
        return d

    @property
    def scalar(self) -> bool:
        return self.kind in ("string", "enum", "integer", "number")


@dataclass
class SynthTool:
    """A tool of the inventory. Lookup tools have ``nouns`` (said after a lookup verb, or
    alone in a question frame); action tools have ``acts`` (whole verb phrases). Both may
    hold ``{param}`` placeholders for required parameters."""

    name: str
    domain: str
    desc: str
    params: list[Param]
    nouns: list[str] = field(default_factory=list)
    acts: list[str] = field(default_factory=list)
    held_out: bool = False
    group: str = ""  # tools that could serve the same request (never irrelevance distractors of each other)

    def spec(self) -> ToolSpec:
        return ToolSpec(name=self.name, description=self.desc, parameters={
            "type": "object",
            "properties": {p.name: p.schema() for p in self.params},
            "required": [p.name for p in self.params if p.required],
        })

    @property
    def lookup(self) -> bool:
        return bool(self.nouns)

    @property
    def key(self) -> str:
        return self.group or self.name


def _s(name, desc, pool, phr, **kw) -> Param:
    return Param(name, "string", desc, pool=pool, phr=phr, **kw)


def _e(name, desc, values, phr, **kw) -> Param:
    return Param(name, "enum", desc, values=values, phr=phr, **kw)


def _i(name, desc, lo, hi, phr, **kw) -> Param:
    return Param(name, "integer", desc, lo=lo, hi=hi, phr=phr, **kw)


def _n(name, desc, lo, hi, step, phr, **kw) -> Param:
    return Param(name, "number", desc, lo=lo, hi=hi, step=step, phr=phr, **kw)


def _b(name, desc, phr, **kw) -> Param:
    kw.setdefault("required", False)
    kw.setdefault("default", False)
    return Param(name, "boolean", desc, phr=phr, **kw)


def _a(name, desc, items, phr, **kw) -> Param:
    return Param(name, "array", desc, items=items, phr=phr, **kw)


IN_CITY = ["in {v}", "for {v}"]
ON_DATE = ["on {v}", "for {v}"]
AT_TIME = ["at {v}"]
UNIT_TEMP = {"celsius": ["celsius", "degrees celsius"], "fahrenheit": ["fahrenheit", "degrees fahrenheit"]}
LENGTH_UNITS = {"km": ["km", "kilometers"], "miles": ["miles"], "meters": ["meters"], "feet": ["feet"],
                "inches": ["inches"], "cm": ["cm", "centimeters"]}
WEIGHT_UNITS = {"kg": ["kg", "kilograms"], "pounds": ["pounds", "lbs"], "grams": ["grams"], "ounces": ["ounces", "oz"]}
TEMP_UNITS = {"celsius": ["celsius"], "fahrenheit": ["fahrenheit"], "kelvin": ["kelvin"]}
VOLUME_UNITS = {"liters": ["liters", "litres"], "gallons": ["gallons"], "cups": ["cups"], "ml": ["ml", "milliliters"]}
SPEED_UNITS = {"kmh": ["km/h", "kilometers per hour"], "mph": ["mph", "miles per hour"], "knots": ["knots"]}
LOOKUP_VERBS = ["get", "check", "find", "look up", "show me", "fetch", "pull up", "tell me"]


def _unit_pair(units: dict[str, list[str]], what: str) -> list[Param]:
    vals = list(units)
    return [_e("from_unit", f"Unit of the given {what}", vals, [], surf=units, distinct="unit"),
            _e("to_unit", "Unit to convert to", vals, ["to {v}"], surf=units, distinct="unit")]


def _currency(name: str, desc: str, phr: list[str], **kw) -> Param:
    return _e(name, desc, list(CURRENCIES), phr, surf=CURRENCIES, **kw)


def build_inventory() -> list[SynthTool]:
    """Every tool of the synthetic world, in a fixed order."""
    T = SynthTool
    unit_opt = _e("unit", "Temperature unit", ["celsius", "fahrenheit"], ["in {v}"], required=False,
                  default="celsius", surf=UNIT_TEMP)
    tools = [
        # weather
        T("get_weather", "weather", "Get the current weather for a city.",
          [_s("city", "City name", "city", IN_CITY), unit_opt],
          nouns=["the weather", "the current weather", "the temperature"], group="weather"),
        T("get_forecast", "weather", "Get a multi-day weather forecast for a city.",
          [_s("city", "City name", "city", IN_CITY), _i("days", "Number of days", 2, 10, ["for the next {v} days", "for {v} days"]),
           unit_opt], nouns=["the forecast", "the weather forecast"], group="weather"),
        T("get_air_quality", "weather", "Get the air quality index for a city.",
          [_s("city", "City name", "city", IN_CITY),
           _e("pollutant", "Pollutant to report", ["pm25", "ozone", "no2"], ["with {v} readings", "measuring {v}"],
              required=False, default="pm25", surf={"pm25": ["PM2.5", "fine dust"], "ozone": ["ozone"], "no2": ["NO2", "nitrogen dioxide"]})],
          nouns=["the air quality", "the pollution level"]),
        T("get_uv_index", "weather", "Get the UV index for a city.",
          [_s("city", "City name", "city", IN_CITY), _i("hour", "Hour of the day, 1-12", 1, 12, ["at {v} o'clock"], required=False)],
          nouns=["the UV index", "the sun strength"]),
        T("get_sunrise_time", "weather", "Get the sunrise time for a city.",
          [_s("city", "City name", "city", IN_CITY), _s("date", "Day", "date", ["on {v}"], required=False)],
          nouns=["the sunrise time", "the time of sunrise"], held_out=True),
        # travel
        T("search_flights", "travel", "Search flights between two airports.",
          [_s("origin", "Departure airport code", "airport", ["from {v}"], distinct="ap"),
           _s("destination", "Arrival airport code", "airport", ["to {v}"], distinct="ap"),
           _s("date", "Departure day", "date", ON_DATE),
           _i("passengers", "Number of passengers", 2, 6, ["for {v} passengers", "with {v} travellers"], required=False, default=1),
           _e("cabin", "Cabin class", ["economy", "business", "first"], ["in {v} class", "flying {v}"], required=False, default="economy")],
          acts=["search flights", "find flights", "look for flights", "search for a flight"]),
        T("book_hotel", "travel", "Book a hotel room.",
          [_s("city", "City name", "city", ["in {v}"]), _i("nights", "Number of nights", 2, 14, ["for {v} nights"]),
           _i("guests", "Number of guests", 2, 5, ["for {v} guests", "for {v} people"], required=False, default=1),
           _b("breakfast", "Include breakfast", ["with breakfast", "breakfast included"], phr_false=["without breakfast"])],
          acts=["book a hotel", "reserve a hotel room", "get me a hotel"]),
        T("rent_car", "travel", "Rent a car.",
          [_s("city", "Pick-up city", "city", ["in {v}", "at {v}"]), _i("days", "Rental days", 2, 14, ["for {v} days"]),
           _e("car_type", "Car type", ["compact", "suv", "van"], ["type {v}", "a {v} one"], required=False,
              default="compact", surf={"compact": ["compact", "small"], "suv": ["SUV"], "van": ["van", "minivan"]})],
          acts=["rent a car", "book a rental car", "hire a car"]),
        T("get_visa_info", "travel", "Get visa requirements for travellers.",
          [_s("country", "Destination country", "country", ["for {v}", "to enter {v}"]),
           _s("nationality", "Traveller nationality", "nationality", ["for {v} citizens", "with a {v} passport"])],
          nouns=["the visa rules", "visa requirements"]),
        T("find_trains", "travel", "Find train connections between two cities.",
          [_s("origin", "Departure city", "city", ["from {v}"], distinct="c"),
           _s("destination", "Arrival city", "city", ["to {v}"], distinct="c"),
           _s("date", "Travel day", "date", ["on {v}"], required=False)],
          acts=["find trains", "search train times", "look up trains"], held_out=True),
        # finance
        T("get_stock_price", "finance", "Get the latest stock price for a ticker.",
          [_s("ticker", "Stock ticker", "ticker", []),
           _currency("currency", "Currency of the price", ["in {v}"], required=False, default="USD")],
          nouns=["the stock price of {ticker}", "the share price of {ticker}", "{ticker} stock"]),
        T("convert_currency", "finance", "Convert an amount between currencies.",
          [_n("amount", "Amount to convert", 5, 5000, 5, []),
           _currency("from_currency", "Source currency", [], distinct="cur"),
           _currency("to_currency", "Target currency", ["to {v}", "into {v}"], distinct="cur")],
          acts=["convert {amount} {from_currency}", "change {amount} {from_currency}", "exchange {amount} {from_currency}"],
          group="fx"),
        T("get_exchange_rate", "finance", "Get the exchange rate between two currencies.",
          [_currency("base", "Base currency", [], distinct="cur"), _currency("target", "Quote currency", [], distinct="cur")],
          nouns=["the exchange rate from {base} to {target}", "the {base} to {target} rate"], group="fx"),
        T("calculate_loan_payment", "finance", "Compute the monthly payment of a loan.",
          [_n("principal", "Loan amount", 1000, 50000, 500, []),
           _n("rate", "Yearly interest rate in percent", 1, 12, 0.25, ["at {v} percent", "at {v}% interest"]),
           _i("years", "Loan term in years", 2, 30, ["over {v} years", "for {v} years"])],
          acts=["calculate the monthly payment on a {principal} loan", "work out payments for a loan of {principal}"]),
        T("get_crypto_price", "finance", "Get the price of a cryptocurrency.",
          [_e("coin", "Coin name", ["bitcoin", "ethereum", "solana", "dogecoin"], []),
           _currency("currency", "Currency of the price", ["in {v}"], required=False, default="USD")],
          nouns=["the price of {coin}", "the {coin} price"], held_out=True),
        # maths
        T("calculate_average", "maths", "Compute the mean of a list of numbers.",
          [_a("numbers", "Numbers to average", "number", [], lo=1, hi=99, n_items=(3, 4))],
          acts=["calculate the average of {numbers}", "find the mean of {numbers}", "average {numbers}"]),
        T("find_maximum", "maths", "Find the largest number in a list.",
          [_a("numbers", "Numbers to compare", "number", [], lo=1, hi=99, n_items=(3, 4))],
          acts=["find the largest of {numbers}", "get the max of {numbers}", "pick the biggest of {numbers}"]),
        T("compute_percentage", "maths", "Compute what percent a part is of a total.",
          [_n("part", "The part", 1, 50, 1, []), _n("total", "The total", 60, 500, 10, [])],
          acts=["work out what percent {part} is of {total}", "calculate {part} as a percentage of {total}"]),
        T("solve_quadratic", "maths", "Solve a*x^2 + b*x + c = 0.",
          [_i("a", "Coefficient a", 1, 9, [], words=False), _i("b", "Coefficient b", 1, 20, [], words=False),
           _i("c", "Coefficient c", 1, 20, [], words=False)],
          acts=["solve the quadratic with a={a}, b={b}, c={c}", "solve {a}x^2 + {b}x + {c} = 0"]),
        T("round_number", "maths", "Round a number.",
          [_n("value", "Number to round", 1, 99, 0.001, []),
           _i("decimals", "Decimal places", 1, 4, ["to {v} decimal places", "to {v} decimals"], required=False, default=0)],
          acts=["round {value}", "round off {value}"]),
        T("compute_factorial", "maths", "Compute n factorial.",
          [_i("n", "Non-negative integer", 2, 15, [])],
          acts=["compute the factorial of {n}", "calculate {n} factorial"], held_out=True),
        # units
        T("convert_length", "units", "Convert a length between units.",
          [_n("value", "Length to convert", 1, 500, 0.5, []), *_unit_pair(LENGTH_UNITS, "length")],
          acts=["convert {value} {from_unit}", "change {value} {from_unit}"]),
        T("convert_weight", "units", "Convert a weight between units.",
          [_n("value", "Weight to convert", 1, 200, 0.5, []), *_unit_pair(WEIGHT_UNITS, "weight")],
          acts=["convert {value} {from_unit}", "change {value} {from_unit}"]),
        T("convert_temperature", "units", "Convert a temperature between scales.",
          [_n("value", "Temperature to convert", 0, 100, 1, []), *_unit_pair(TEMP_UNITS, "temperature")],
          acts=["convert {value} degrees {from_unit}", "change {value} degrees {from_unit}"]),
        T("convert_volume", "units", "Convert a volume between units.",
          [_n("value", "Volume to convert", 1, 100, 0.5, []), *_unit_pair(VOLUME_UNITS, "volume")],
          acts=["convert {value} {from_unit}", "change {value} {from_unit}"]),
        T("convert_speed", "units", "Convert a speed between units.",
          [_n("value", "Speed to convert", 5, 300, 5, []), *_unit_pair(SPEED_UNITS, "speed")],
          acts=["convert {value} {from_unit}", "change {value} {from_unit}"], held_out=True),
        # calendar
        T("create_event", "calendar", "Create a calendar event.",
          [_s("title", "Event title", "event", []), _s("date", "Day", "date", ON_DATE),
           _s("time", "Start time", "time", AT_TIME, required=False),
           _a("attendees", "People to invite", "person", ["with {v}", "inviting {v}"], required=False)],
          acts=["create an event called {title}", "add {title} to my calendar", "schedule {title}"]),
        T("list_events", "calendar", "List calendar events of a day.",
          [_s("date", "Day", "date", ON_DATE)], nouns=["my events", "my schedule", "my calendar"]),
        T("cancel_event", "calendar", "Cancel a calendar event.",
          [_s("title", "Event title", "event", []), _s("date", "Day", "date", ["on {v}"], required=False)],
          acts=["cancel {title}", "delete the {title} event", "remove {title} from my calendar"]),
        T("set_reminder", "calendar", "Set a reminder.",
          [_s("text", "What to remember", "task", []), _s("time", "When", "time", AT_TIME),
           _e("repeat", "Repetition", ["daily", "weekly", "never"], ["{v}"], required=False, default="never",
              surf={"daily": ["every day", "daily"], "weekly": ["every week", "weekly"], "never": ["just once", "only once"]})],
          acts=["remind me to {text}", "set a reminder to {text}"]),
        T("find_free_slot", "calendar", "Find a free slot in the calendar.",
          [_s("date", "Day", "date", ["on {v}"]),
           _i("duration_minutes", "Length in minutes", 15, 120, ["for {v} minutes", "of {v} minutes"], step=15, words=False)],
          acts=["find a free slot", "find free time in my calendar"], held_out=True),
        # messaging
        T("send_message", "messaging", "Send a text message.",
          [_s("recipient", "Contact name", "person", []), _s("text", "Message text", "phrase", ["saying {v}", "that says {v}"]),
           _b("urgent", "Mark as urgent", ["marked urgent", "as urgent"])],
          acts=["send a message to {recipient}", "text {recipient}", "message {recipient}"], group="msg"),
        T("send_email", "messaging", "Send an email.",
          [_s("to", "Recipient address", "email", []), _s("subject", "Subject line", "subject", ["about {v}", "with subject {v}"]),
           _a("cc", "Addresses to copy", "email", ["copying {v}", "cc {v}"], required=False, n_items=(2, 2))],
          acts=["send an email to {to}", "email {to}"]),
        T("read_messages", "messaging", "Read received messages.",
          [_s("contact", "Only from this contact", "person", ["from {v}"], required=False),
           _b("unread_only", "Only unread messages", ["only unread ones", "just the unread ones"]),
           _i("limit", "Maximum number of messages", 2, 20, ["up to {v} of them", "limit {v}"], required=False, default=10)],
          acts=["read my messages", "show my texts", "check my inbox"]),
        T("create_group_chat", "messaging", "Create a group chat.",
          [_s("name", "Group name", "group", []), _a("members", "Members to add", "person", ["with {v}", "adding {v}"])],
          acts=["create a group chat called {name}", "start a group named {name}"]),
        T("schedule_message", "messaging", "Schedule a text message for later.",
          [_s("recipient", "Contact name", "person", []), _s("text", "Message text", "phrase", ["saying {v}"]),
           _s("time", "When to send", "time", AT_TIME)],
          acts=["schedule a message to {recipient}", "queue a text for {recipient}"], held_out=True, group="msg"),
        # shopping
        T("search_products", "shopping", "Search the shop catalogue.",
          [_s("query", "What to search for", "product", []),
           _n("max_price", "Highest price", 10, 500, 5, ["under {v} dollars", "below {v} dollars"], required=False),
           _e("sort", "Sort order", ["price", "rating", "newest"], ["{v}"], required=False, default="rating",
              surf={"price": ["cheapest first", "by lowest price"], "rating": ["best rated first", "by rating"],
                    "newest": ["newest first", "latest first"]})],
          acts=["search for {query}", "shop for {query}", "browse {query}"], group="shop"),
        T("add_to_cart", "shopping", "Add a product to the cart.",
          [_s("product", "Product name", "product", []),
           _i("quantity", "How many", 2, 9, ["{v} units", "quantity {v}"], required=False, default=1)],
          acts=["add {product} to my cart", "put {product} in my basket"]),
        T("track_order", "shopping", "Track an order.",
          [_s("order_id", "Order number", "order_id", [])],
          acts=["track order {order_id}", "check the status of order {order_id}"]),
        T("apply_coupon", "shopping", "Apply a coupon code to an order.",
          [_s("code", "Coupon code", "coupon", []), _s("order_id", "Order number", "order_id", ["to order {v}", "on order {v}"], required=False)],
          acts=["apply coupon {code}", "use the promo code {code}"]),
        T("ship_package", "shopping", "Ship a package to an address.",
          [_s("recipient", "Recipient name", "person", []),
           Param("address", "object", "Delivery address", sub=[
               _s("street", "Street", "street", []), _s("city", "City", "city", []), _s("zip", "Postal code", "zip", [])],
               phr=["at {street}, {city} {zip}", "to {street} in {city}, zip {zip}"]),
           _b("express", "Express delivery", ["by express", "with express delivery"])],
          acts=["ship a package to {recipient}", "send a parcel to {recipient}"]),
        T("check_stock", "shopping", "Check whether a product is in stock.",
          [_s("product", "Product name", "product", []), _s("city", "Store city", "city", ["in {v}", "near {v}"], required=False)],
          acts=["check if {product} is in stock", "see whether {product} is available"], held_out=True, group="shop"),
        # food
        T("find_restaurants", "food", "Find restaurants in a city.",
          [_s("city", "City name", "city", ["in {v}", "near {v}"]),
           _e("cuisine", "Cuisine", ["italian", "japanese", "mexican", "indian", "thai", "french", "chinese", "greek"],
              ["serving {v} food", "with {v} cuisine"]),
           _e("price_level", "Price level", ["cheap", "moderate", "fancy"], ["that are {v}"], required=False,
              surf={"cheap": ["cheap", "budget"], "moderate": ["mid-range", "moderately priced"], "fancy": ["fancy", "upscale"]})],
          acts=["find restaurants", "look for places to eat", "search for restaurants"]),
        T("book_table", "food", "Book a restaurant table.",
          [_s("restaurant", "Restaurant name", "restaurant", []), _i("party_size", "Number of people", 2, 10, ["for {v}", "for {v} people"]),
           _s("time", "Time", "time", AT_TIME)],
          acts=["book a table at {restaurant}", "reserve a table at {restaurant}"]),
        T("get_recipe", "food", "Get a recipe for a dish.",
          [_s("dish", "Dish name", "dish", []),
           _i("servings", "Servings", 3, 8, ["for {v} servings", "serving {v}"], required=False, default=2),
           _b("vegetarian", "Vegetarian version", ["that is vegetarian", "vegetarian only"])],
          nouns=["a recipe for {dish}", "the recipe for {dish}"]),
        T("order_food", "food", "Order food for delivery.",
          [_a("items", "Dishes to order", "dish", []),
           Param("address", "object", "Delivery address", sub=[_s("street", "Street", "street", []), _s("city", "City", "city", [])],
                 phr=["to {street} in {city}", "delivered to {street}, {city}"])],
          acts=["order {items}", "get {items} delivered"]),
        T("get_nutrition_facts", "food", "Get nutrition facts for a food.",
          [_s("food", "Food name", "food", []), _i("grams", "Portion in grams", 50, 500, ["per {v} grams"], step=50, words=False, required=False)],
          nouns=["the nutrition facts for {food}", "the calories in {food}"], held_out=True),
        # music
        T("play_music", "music", "Play music by an artist.",
          [_s("artist", "Artist name", "artist", []), _b("shuffle", "Shuffle play", ["on shuffle", "shuffled"])],
          acts=["play some {artist}", "play music by {artist}", "put on {artist}"]),
        T("create_playlist", "music", "Create a playlist from genres.",
          [_s("name", "Playlist name", "playlist", []), _a("genres", "Genres to include", "genre", ["with {v}", "mixing {v}"])],
          acts=["create a playlist called {name}", "make a playlist named {name}"]),
        T("get_lyrics", "music", "Get the lyrics of a song.",
          [_s("song", "Song title", "song", []), _s("artist", "Artist name", "artist", ["by {v}"], required=False)],
          nouns=["the lyrics of {song}", "the words to {song}"]),
        T("set_volume", "music", "Set the playback volume.",
          [_i("level", "Volume 0-100", 0, 100, [], step=5, words=False),
           _e("device", "Output device", ["speaker", "headphones", "tv"], ["on the {v}"], required=False, default="speaker")],
          acts=["set the volume to {level}", "change the volume to {level}"]),
        T("find_concerts", "music", "Find upcoming concerts of an artist.",
          [_s("artist", "Artist name", "artist", []), _s("city", "City name", "city", ["in {v}"], required=False)],
          nouns=["concerts by {artist}", "upcoming shows for {artist}"], held_out=True),
        # movies
        T("get_showtimes", "movies", "Get cinema showtimes of a movie.",
          [_s("movie", "Movie title", "movie", []), _s("city", "City name", "city", ["in {v}"]),
           _s("date", "Day", "date", ["on {v}"], required=False)],
          nouns=["showtimes for {movie}", "screenings of {movie}"]),
        T("get_movie_info", "movies", "Get details about a movie.",
          [_s("movie", "Movie title", "movie", []), _b("include_cast", "Include the cast", ["including the cast", "with the cast list"])],
          nouns=["info about {movie}", "details on {movie}"]),
        T("recommend_movies", "movies", "Recommend movies of a genre.",
          [_e("genre", "Genre", ["comedy", "drama", "horror", "action", "romance", "thriller"], []),
           _i("year", "Release year", 1980, 2023, ["from {v}"], required=False, words=False),
           _i("limit", "How many", 2, 10, ["limit {v}", "at most {v}"], required=False, default=5)],
          acts=["recommend some {genre} movies", "suggest {genre} films"]),
        T("rate_movie", "movies", "Rate a movie with stars.",
          [_s("movie", "Movie title", "movie", []), _i("stars", "Stars 1-5", 2, 5, [])],
          acts=["rate {movie} {stars} stars", "give {movie} {stars} stars"]),
        T("find_streaming", "movies", "Find which service streams a movie.",
          [_s("movie", "Movie title", "movie", []), _s("country", "Country", "country", ["in {v}"], required=False)],
          acts=["find where to stream {movie}", "check which service streams {movie}"], held_out=True),
        # sports
        T("get_score", "sports", "Get the latest score of a team.",
          [_s("team", "Team name", "team", [])], nouns=["the score of the {team} game", "the latest {team} score"]),
        T("get_standings", "sports", "Get a league table.",
          [_e("league", "League", ["premier league", "la liga", "serie a", "bundesliga", "nba", "nfl"], [],
              surf={"nba": ["NBA"], "nfl": ["NFL"], "premier league": ["Premier League"], "la liga": ["La Liga"],
                    "serie a": ["Serie A"], "bundesliga": ["Bundesliga"]}),
           _i("season", "Season year", 2015, 2024, ["for {v}", "in {v}"], required=False, words=False)],
          nouns=["the {league} standings", "the {league} table"]),
        T("get_player_stats", "sports", "Get statistics of a player.",
          [_s("player", "Player name", "player", []), _i("season", "Season year", 2015, 2024, ["for {v}", "in {v}"], required=False, words=False)],
          nouns=["stats for {player}", "the numbers of {player}"]),
        T("get_next_game", "sports", "Get the next game of a team.",
          [_s("team", "Team name", "team", []), _b("home_only", "Only home games", ["at home only", "home games only"])],
          nouns=["the next {team} game", "the next match of {team}"]),
        T("buy_tickets", "sports", "Buy tickets for a team's next game.",
          [_s("team", "Team name", "team", []), _i("seats", "Number of seats", 2, 8, [])],
          acts=["buy {seats} tickets for the {team} game", "get {seats} seats for {team}"], held_out=True),
        # health
        T("log_workout", "health", "Log a workout.",
          [_e("activity", "Activity", ["running", "cycling", "swimming", "yoga", "walking", "rowing"], []),
           _i("minutes", "Duration in minutes", 10, 120, ["for {v} minutes", "of {v} minutes"], step=5, words=False),
           _i("calories", "Calories burned", 50, 900, ["burning {v} calories"], step=10, words=False, required=False)],
          acts=["log a {activity} workout", "record {activity}"]),
        T("find_doctor", "health", "Find a doctor of a specialty.",
          [_e("specialty", "Specialty", ["dentist", "cardiologist", "dermatologist", "pediatrician", "optometrist"], []),
           _s("city", "City name", "city", ["in {v}", "near {v}"])],
          acts=["find a {specialty}", "look for a {specialty}"]),
        T("check_symptoms", "health", "Check possible causes of symptoms.",
          [_a("symptoms", "Symptoms", "symptom", []), _i("age", "Patient age", 5, 90, ["for a {v} year old", "age {v}"], required=False)],
          acts=["check symptoms like {symptoms}", "look into {symptoms}"]),
        T("track_water", "health", "Log glasses of water drunk.",
          [_i("glasses", "Glasses of water", 2, 12, []), _s("date", "Day", "date", ["for {v}", "on {v}"], required=False)],
          acts=["log {glasses} glasses of water", "track {glasses} glasses of water"]),
        T("calculate_bmi", "health", "Compute the body mass index.",
          [_n("weight_kg", "Weight in kg", 40, 150, 1, ["weighing {v} kg", "at {v} kg"]),
           _n("height_cm", "Height in cm", 140, 210, 1, ["and {v} cm tall", "height {v} cm"])],
          acts=["calculate my BMI", "work out my body mass index"], held_out=True),
        # news
        T("get_headlines", "news", "Get top news headlines.",
          [_s("topic", "Topic", "topic", ["about {v}", "on {v}"], required=False),
           _s("country", "Country", "country", ["in {v}", "from {v}"], required=False),
           _i("limit", "How many headlines", 2, 10, ["limit {v}", "{v} stories max"], required=False, default=5)],
          nouns=["the headlines", "the top news", "the latest news"], group="news"),
        T("search_news", "news", "Search news articles.",
          [_s("query", "Search words", "topic", []), _i("days", "Look back this many days", 2, 30, ["from the last {v} days", "in the past {v} days"], required=False)],
          acts=["search the news for {query}", "find articles about {query}"], group="news"),
        T("subscribe_newsletter", "news", "Subscribe an address to a newsletter.",
          [_s("email", "Address", "email", []), _s("topic", "Topic", "topic", []),
           _e("frequency", "How often", ["daily", "weekly"], ["{v}"], required=False, default="weekly",
              surf={"daily": ["every day", "daily"], "weekly": ["every week", "weekly"]})],
          acts=["subscribe {email} to the {topic} newsletter", "sign {email} up for {topic} news"]),
        # maps
        T("get_directions", "maps", "Get directions between two places.",
          [_s("origin", "Start", "city", [], distinct="c"), _s("destination", "End", "city", [], distinct="c"),
           _e("mode", "Travel mode", ["driving", "walking", "transit", "cycling"], ["{v}"], required=False, default="driving",
              surf={"driving": ["by car", "driving"], "walking": ["on foot", "walking"], "transit": ["by train", "by public transport"],
                    "cycling": ["by bike", "cycling"]}),
           _b("avoid_tolls", "Avoid toll roads", ["avoiding tolls", "with no tolls"])],
          nouns=["directions from {origin} to {destination}", "the route from {origin} to {destination}"], group="route"),
        T("find_nearby", "maps", "Find a place of a type near a city.",
          [_e("place_type", "Kind of place", ["pharmacy", "gas station", "atm", "cafe", "hospital", "parking"], [],
              surf={"atm": ["ATM", "cash machine"], "gas station": ["gas station", "petrol station"]}),
           _s("city", "City name", "city", ["in {v}", "near {v}"]),
           _n("radius_km", "Search radius in km", 1, 20, 1, ["within {v} km"], required=False)],
          acts=["find a {place_type}", "locate the nearest {place_type}"]),
        T("get_distance", "maps", "Get the distance between two cities.",
          [_s("origin", "Start", "city", [], distinct="c"), _s("destination", "End", "city", [], distinct="c"),
           _e("unit", "Distance unit", ["km", "miles"], ["in {v}"], required=False, default="km")],
          nouns=["the distance from {origin} to {destination}", "the distance between {origin} and {destination}"], group="route"),
        T("get_traffic", "maps", "Get traffic conditions in a city.",
          [_s("city", "City name", "city", [])], nouns=["the traffic in {city}", "traffic conditions in {city}"]),
        T("get_local_time", "maps", "Get the local time in a city.",
          [_s("city", "City name", "city", [])], nouns=["the local time in {city}", "the current time in {city}"], held_out=True),
        # home
        T("set_thermostat", "home", "Set the thermostat temperature.",
          [_n("temperature", "Target temperature", 16, 28, 0.5, []), _s("room", "Room", "room", ["in the {v}"], required=False),
           _e("mode", "Mode", ["heat", "cool", "auto"], ["{v}"], required=False, default="auto",
              surf={"heat": ["in heating mode", "on heat"], "cool": ["in cooling mode", "on cool"], "auto": ["in auto mode", "on auto"]})],
          acts=["set the thermostat to {temperature} degrees", "make it {temperature} degrees"]),
        T("switch_lights", "home", "Turn lights on or off.",
          [_e("state", "on or off", ["on", "off"], []), _s("room", "Room", "room", ["in the {v}"]),
           _i("brightness", "Brightness percent", 10, 100, ["at {v} percent"], step=10, words=False, required=False)],
          acts=["turn {state} the lights", "switch {state} the lights"]),
        T("lock_door", "home", "Lock a door.",
          [_e("door", "Which door", ["front", "back", "garage", "side"], [])],
          acts=["lock the {door} door", "make sure the {door} door is locked"]),
        T("start_vacuum", "home", "Start the robot vacuum.",
          [_a("rooms", "Rooms to clean", "room", ["in the {v}", "for the {v}"]),
           _e("mode", "Cleaning mode", ["quiet", "turbo", "normal"], ["on {v} mode", "in {v} mode"], required=False, default="normal")],
          acts=["start the vacuum", "run the robot vacuum"]),
        T("set_alarm_system", "home", "Arm the home alarm.",
          [_e("mode", "Alarm mode", ["away", "home", "night"], ["in {v} mode", "on {v} mode"]),
           _s("code", "Alarm code", "alarm_code", ["with code {v}"], required=False)],
          acts=["arm the alarm", "set the security alarm"], held_out=True),
        # jobs
        T("search_jobs", "jobs", "Search job openings.",
          [_s("title", "Job title", "job", []), _s("city", "City name", "city", ["in {v}"]),
           _b("remote", "Remote only", ["that are remote", "remote only"]),
           _i("min_salary", "Minimum yearly salary", 30000, 150000, ["paying at least {v}", "above {v} a year"], step=5000, words=False, required=False)],
          acts=["search for {title} jobs", "find {title} openings"]),
        T("get_salary_estimate", "jobs", "Estimate the salary of a job.",
          [_s("title", "Job title", "job", []), _s("city", "City name", "city", ["in {v}"], required=False),
           _i("years", "Years of experience", 2, 20, ["with {v} years of experience"], required=False)],
          nouns=["the average salary for a {title}", "the typical pay of a {title}"]),
        T("apply_for_job", "jobs", "Apply to a job opening.",
          [_s("job_id", "Job id", "job_id", []), _s("resume", "Resume file", "resume_file", ["using {v}", "attaching {v}"], required=False)],
          acts=["apply to job {job_id}", "submit my application for job {job_id}"]),
        # education and language
        T("translate_text", "education", "Translate text to another language.",
          [_s("text", "Text to translate", "phrase", []), _s("target_language", "Language to translate to", "language", [], distinct="lang"),
           _s("source_language", "Language of the text", "language", ["from {v}"], required=False, distinct="lang")],
          acts=["translate {text} into {target_language}", "say {text} in {target_language}"]),
        T("define_word", "education", "Get the definition of a word.",
          [_s("word", "Word", "word", [])], nouns=["the definition of {word}", "the meaning of {word}"], group="words"),
        T("find_courses", "education", "Find courses on a subject.",
          [_s("subject", "Subject", "subject_course", []),
           _e("level", "Level", ["beginner", "intermediate", "advanced"], ["for {v} level", "at {v} level"], required=False),
           _b("free_only", "Only free courses", ["that are free", "free ones only"])],
          acts=["find {subject} courses", "look for classes in {subject}"]),
        T("get_synonyms", "education", "Get synonyms of a word.",
          [_s("word", "Word", "word", []), _i("limit", "How many", 2, 10, ["limit {v}"], required=False)],
          nouns=["synonyms for {word}", "other words for {word}"], held_out=True, group="words"),
        # files
        T("search_files", "files", "Search stored files.",
          [_s("query", "Search words", "file_query", []),
           _e("file_type", "File type", ["pdf", "doc", "image", "sheet"], ["of type {v}", "only {v} files"], required=False,
              surf={"pdf": ["PDF"], "doc": ["document", "doc"], "image": ["image", "photo"], "sheet": ["spreadsheet"]})],
          acts=["search my files for {query}", "find files matching {query}"]),
        T("share_file", "files", "Share a file with people.",
          [_s("file_name", "File name", "file_name", []), _a("recipients", "Addresses", "email", [], n_items=(1, 2)),
           _e("permission", "Access level", ["view", "edit"], ["{v}"], required=False, default="view",
              surf={"view": ["view only", "read only"], "edit": ["with edit rights", "as editors"]})],
          acts=["share {file_name} with {recipients}", "send {file_name} to {recipients}"]),
        T("delete_file", "files", "Delete a file.",
          [_s("file_name", "File name", "file_name", []), _b("permanent", "Skip the trash", ["permanently", "for good"])],
          acts=["delete {file_name}", "remove the file {file_name}"]),
    ]
    _validate_inventory(tools)
    return tools


def _validate_inventory(tools: list[SynthTool]) -> None:
    """Every parameter must be wordable in every phrasing of its tool (a bug here would
    make requests that do not say a value the answer holds)."""
    names = [t.name for t in tools]
    if len(set(names)) != len(names):
        raise AssertionError("duplicate tool names in the inventory")
    for t in tools:
        heads = t.nouns or t.acts
        if not heads or (t.nouns and t.acts):
            raise AssertionError(f"{t.name}: give either nouns or acts")
        for head in heads:
            inside = set(_embedded(head))
            for p in t.params:
                if p.name in inside and not p.required:
                    raise AssertionError(f"{t.name}: optional {p.name} cannot sit inside {head!r}")
                if p.name in inside and p.kind in ("boolean", "object"):
                    raise AssertionError(f"{t.name}: {p.kind} {p.name} cannot sit inside {head!r}")
                if p.name not in inside and not p.phr:
                    raise AssertionError(f"{t.name}: {p.name} has no slot phrase for {head!r}")
                if p.kind == "boolean" and p.default is None:
                    raise AssertionError(f"{t.name}: boolean {p.name} needs a default")


# --------------------------------------------------------------------------------------
# Templates: frame + opener + closer (+ connective)

OPENERS: dict[str, list[str]] = {
    "imp": ["", "Please ", "Hey, ", "Quick one: ", "Okay, ", "Hi, please "],
    "q": ["Can you ", "Could you ", "Would you ", "Can you please ", "Could you quickly "],
    "want": ["I need you to ", "I'd like you to ", "I want you to ", "Go ahead and ", "Try to "],
    "nq": ["What's ", "What is ", "Do you know "],  # lookup tools only: + noun phrase
    "ns": ["Tell me ", "Show me ", "I want ", "Give me ", "I'd like "],  # lookup tools only
}
PUNCT = {"imp": ".", "q": "?", "want": ".", "nq": "?", "ns": "."}
CLOSERS = ["", " for me", " please", " thanks", " right away", " if you can", " now"]
CONNECTIVES = [" and ", ", and also ", ", then ", ". Also ", "; plus ", " and then "]
VERB_FRAMES = ("imp", "q", "want")
NOUN_FRAMES = ("nq", "ns")


@dataclass(frozen=True)
class Template:
    frame: str
    opener: int
    closer: int
    conn: int = -1  # -1: one clause

    @property
    def id(self) -> str:
        base = f"{self.frame}{self.opener}-c{self.closer}"
        return base if self.conn < 0 else f"{base}-j{self.conn}"

    @property
    def fragments(self) -> list[str]:
        out = [f"o:{self.frame}{self.opener}", f"c:{self.closer}"]
        if self.conn >= 0:
            out.append(f"j:{self.conn}")
        return out


def all_templates() -> tuple[list[Template], list[Template]]:
    """(single-clause templates, multi-clause templates), in a fixed order."""
    single = [Template(f, o, c) for f in VERB_FRAMES + NOUN_FRAMES for o in range(len(OPENERS[f]))
              for c in range(len(CLOSERS))]
    multi = [Template(f, o, c, j) for f in VERB_FRAMES for o in range(len(OPENERS[f]))
             for c in range(len(CLOSERS)) for j in range(len(CONNECTIVES))]
    return single, multi


def is_held_out_template(t: Template, share: float = HELD_OUT_TEMPLATE_SHARE) -> bool:
    # A fixed hash of the id, so the held-out set does not depend on the seed or on n.
    return zlib.crc32(t.id.encode()) % 1000 < share * 1000


# --------------------------------------------------------------------------------------
# Values and their wording


@dataclass
class Arg:
    value: Any
    text: str  # how the request words it


def _render_int(v: int, p: Param, rng: random.Random) -> str:
    if p.words and 0 <= v <= 20 and rng.random() < 0.4:
        return NUMBER_WORDS[v]
    return str(v)


def _num(v: float) -> int | float:
    v = round(v, 4)
    return int(v) if float(v).is_integer() else v


def _sample_scalar(p: Param, rng: random.Random, avoid: set) -> Arg:
    for _ in range(20):
        if p.kind == "string":
            v: Any = rng.choice(POOLS[p.pool])
        elif p.kind == "enum":
            v = rng.choice(p.values)
        elif p.kind == "integer":
            v = int(p.lo) + int(p.step) * rng.randrange(int((p.hi - p.lo) // p.step) + 1)
        else:
            v = _num(p.lo + p.step * rng.randrange(int(round((p.hi - p.lo) / p.step)) + 1))
        if v not in avoid:
            break
    return Arg(v, _word_value(p, v, rng))


def _word_value(p: Param, v: Any, rng: random.Random) -> str:
    if p.kind == "enum":
        return rng.choice(p.surf.get(v, [v]))
    if p.kind == "integer":
        return _render_int(v, p, rng)
    return str(v)


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _sample_arg(p: Param, rng: random.Random, avoid: set) -> Arg:
    if p.scalar:
        return _sample_scalar(p, rng, avoid)
    if p.kind == "boolean":
        value = not (p.phr_false and rng.random() < 0.3)
        return Arg(value, rng.choice(p.phr if value else p.phr_false))
    if p.kind == "array":
        k = rng.randint(*p.n_items)
        if p.items == "number":
            vals = rng.sample(range(int(p.lo), int(p.hi) + 1), k)
            return Arg(vals, _join([str(v) for v in vals]))
        vals = rng.sample(POOLS[p.items], k)
        return Arg(vals, _join(vals))
    # object: one value per sub-parameter, worded by the object's own pattern
    sub = {s.name: _sample_scalar(s, rng, set()) for s in p.sub}
    pattern = rng.choice(p.phr)
    return Arg({k: a.value for k, a in sub.items()}, pattern.format(**{k: a.text for k, a in sub.items()}))


# --------------------------------------------------------------------------------------
# Calls, clauses, requests


@dataclass
class PlannedCall:
    tool: SynthTool
    args: dict[str, Arg]  # parameters the request mentions


def plan_call(tool: SynthTool, rng: random.Random, opt_p: float, fixed: dict[str, Arg] | None = None) -> PlannedCall:
    """Choose the arguments of one call: every required parameter, each optional one with
    probability ``opt_p``; ``fixed`` arguments are taken as given."""
    fixed = fixed or {}
    args: dict[str, Arg] = {}
    used: dict[str, set] = {}
    for p in tool.params:
        if p.name in fixed:
            args[p.name] = fixed[p.name]
            if p.distinct:
                used.setdefault(p.distinct, set()).add(fixed[p.name].value)
    for p in tool.params:
        if p.name in args:
            continue
        if not p.required and rng.random() >= opt_p:
            continue
        avoid = used.setdefault(p.distinct, set()) if p.distinct else set()
        a = _sample_arg(p, rng, avoid)
        if p.distinct:
            avoid.add(a.value)
        args[p.name] = a
    return PlannedCall(tool, args)


def _embedded(pattern: str) -> list[str]:
    return [f for _, f, _, _ in string.Formatter().parse(pattern) if f]


def render_clause(call: PlannedCall, rng: random.Random, *, noun_form: bool = False,
                  coordinated: dict[str, list[Arg]] | None = None) -> str:
    """One clause for one call (or for several calls of one tool that differ in one
    ``coordinated`` parameter: "in Paris, Rome and Oslo")."""
    tool = call.tool
    if tool.lookup:
        head = rng.choice(tool.nouns)
        if not noun_form:
            head = rng.choice(LOOKUP_VERBS) + " " + head
    else:
        head = rng.choice(tool.acts)
    texts: dict[str, str] = {}
    for name, arg in call.args.items():
        texts[name] = arg.text
    if coordinated:
        for name, args in coordinated.items():
            texts[name] = _join([a.text for a in args])
    inside = set(_embedded(head))
    head = head.format(**{k: texts[k] for k in inside})
    slots = []
    by_name = {p.name: p for p in tool.params}
    for name in call.args:
        if name in inside:
            continue
        p = by_name[name]
        if p.kind in ("boolean", "object"):
            slots.append(call.args[name].text)
        else:
            slots.append(rng.choice(p.phr).format(v=texts[name]))
    rng.shuffle(slots)
    return " ".join([head] + slots)


def render_request(t: Template, clauses: list[str]) -> str:
    if len(clauses) == 1:
        core = clauses[0]
    else:
        conn = CONNECTIVES[t.conn]
        # several clauses: the chosen connective between the first two, " and " before a third
        core = clauses[0] + conn + clauses[1] + "".join(" and " + c for c in clauses[2:])
    text = OPENERS[t.frame][t.opener] + core + CLOSERS[t.closer] + PUNCT[t.frame]
    return text[0].upper() + text[1:]


def possible_answer(call: PlannedCall, fixed: dict[str, Any] | None = None) -> dict[str, dict[str, list[Any]]]:
    """BFCL possible answer of one call: mentioned values; ``""`` marks optional parameters
    that may be omitted (with their default as the other acceptable value)."""
    vals = {k: a.value for k, a in call.args.items()}
    if fixed:
        vals.update(fixed)
    params: dict[str, list[Any]] = {}
    for p in call.tool.params:
        if p.name in vals:
            v = vals[p.name]
            acceptable = [to_possible_value(v)]
            if not p.required and p.default is not None and v == p.default and type(v) is type(p.default):
                acceptable.append("")  # saying the default is the same as leaving it out
            params[p.name] = acceptable
        elif not p.required and p.default is not None:
            params[p.name] = ["", p.default]
    return {call.tool.name: params}


# --------------------------------------------------------------------------------------
# The generator


@dataclass
class _Ctx:
    """What one part of one split may use."""

    targets: list[SynthTool]  # tools a request may call (held-out ones for unseen_tool)
    distractors: list[SynthTool]  # tools that may be listed beside them (never held-out)
    templates_single: list[Template]
    templates_multi: list[Template]
    unseen_tool: bool


@dataclass
class _Gen:
    tools: list[SynthTool]
    request: str
    answer: list
    text: str | None
    template: Template
    domain: str


MAX_WORDS_SINGLE = 26
MAX_WORDS_MULTI = 32


class Synthesizer:
    def __init__(self, seed: int, *, held_out_template_share: float = HELD_OUT_TEMPLATE_SHARE):
        self.seed = seed
        self.inventory = build_inventory()
        self.by_domain: dict[str, list[SynthTool]] = {}
        for t in self.inventory:
            self.by_domain.setdefault(t.domain, []).append(t)
        self.specs = {t.name: t.spec() for t in self.inventory}
        single, multi = all_templates()
        share = held_out_template_share
        self.single_seen = [t for t in single if not is_held_out_template(t, share)]
        self.single_held = [t for t in single if is_held_out_template(t, share)]
        self.multi_seen = [t for t in multi if not is_held_out_template(t, share)]
        self.multi_held = [t for t in multi if is_held_out_template(t, share)]
        self.held_templates = set(self.single_held + self.multi_held)
        self.seen_tools = [t for t in self.inventory if not t.held_out]
        self.held_tools = [t for t in self.inventory if t.held_out]

    # -- pieces ---------------------------------------------------------------------------

    def _pick_template(self, rng: random.Random, ctx: _Ctx, multi: bool, lookup: bool) -> Template:
        pool = ctx.templates_multi if multi else ctx.templates_single
        if not multi and not lookup:
            pool = [t for t in pool if t.frame in VERB_FRAMES]
        return rng.choice(pool)

    def _distractors(self, rng: random.Random, ctx: _Ctx, exclude: list[SynthTool], k: int,
                     same_domain_p: float, avoid_groups: bool) -> list[SynthTool]:
        taken = {t.name for t in exclude}
        groups = {t.key for t in exclude} if avoid_groups else set()

        def ok(t: SynthTool) -> bool:
            return t.name not in taken and t.key not in groups

        out: list[SynthTool] = []
        domain = exclude[0].domain
        near = [t for t in ctx.distractors if t.domain == domain and ok(t)]
        far = [t for t in ctx.distractors if t.domain != domain and ok(t)]
        for _ in range(k):
            src = near if (near and rng.random() < same_domain_p) else far
            if not src:
                src = near or far
            if not src:
                break
            t = src.pop(rng.randrange(len(src)))
            out.append(t)
        return out

    def _clause_for(self, rng: random.Random, tool: SynthTool, opt_p: float, noun_form: bool) -> tuple[PlannedCall, str]:
        call = plan_call(tool, rng, opt_p)
        return call, render_clause(call, rng, noun_form=noun_form)

    def _single_request(self, rng: random.Random, ctx: _Ctx, tool: SynthTool) -> tuple[PlannedCall, str, Template]:
        t = self._pick_template(rng, ctx, False, tool.lookup)
        call, clause = self._clause_for(rng, tool, 0.4, t.frame in NOUN_FRAMES)
        return call, render_request(t, [clause]), t

    def _coordinated(self, rng: random.Random, tool: SynthTool, n: int, *,
                     noun_form: bool = False) -> tuple[list[dict], str] | None:
        """Several calls of one tool that differ in one scalar required parameter, worded as
        one clause with the values coordinated ("in Paris and Rome")."""
        cands = [p for p in tool.params if p.required and p.scalar and not (p.kind == "enum" and len(p.values) < n + 1)]
        if not cands:
            return None
        vary = rng.choice(cands)
        base = plan_call(tool, rng, 0.3)
        used = {a.value for name, a in base.args.items()
                if vary.distinct and name != vary.name and _param(tool, name).distinct == vary.distinct}
        values: list[Arg] = []
        for _ in range(n):
            a = _sample_scalar(vary, rng, used | {x.value for x in values})
            if a.value in used or a.value in {x.value for x in values}:
                return None
            values.append(a)
        call = PlannedCall(tool, dict(base.args))
        call.args[vary.name] = values[0]
        clause = render_clause(call, rng, noun_form=noun_form, coordinated={vary.name: values})
        answers = [possible_answer(call, {vary.name: a.value}) for a in values]
        return answers, clause

    # -- categories -----------------------------------------------------------------------

    def gen(self, category: str, rng: random.Random, ctx: _Ctx) -> _Gen:
        return getattr(self, f"_gen_{category}")(rng, ctx)

    def _gen_simple(self, rng: random.Random, ctx: _Ctx) -> _Gen:
        tool = rng.choice(ctx.targets)
        call, req, t = self._single_request(rng, ctx, tool)
        return _Gen([tool], req, [possible_answer(call)], None, t, tool.domain)

    def _gen_multiple(self, rng: random.Random, ctx: _Ctx) -> _Gen:
        tool = rng.choice(ctx.targets)
        call, req, t = self._single_request(rng, ctx, tool)
        others = self._distractors(rng, ctx, [tool], rng.randint(1, 5), 0.6, avoid_groups=False)
        tools = [tool] + others
        rng.shuffle(tools)
        return _Gen(tools, req, [possible_answer(call)], None, t, tool.domain)

    def _gen_parallel(self, rng: random.Random, ctx: _Ctx) -> _Gen:
        for _ in range(20):
            tool = rng.choice(ctx.targets)
            n = 2 if rng.random() < 0.7 else 3
            if rng.random() < 0.6:
                # one clause, the varying values coordinated: "weather in Paris and Rome"
                t = self._pick_template(rng, ctx, False, tool.lookup)
                got = self._coordinated(rng, tool, n, noun_form=t.frame in NOUN_FRAMES)
                if got is None:
                    continue
                answers, clause = got
                req = render_request(t, [clause])
            else:
                # one clause per call, joined by connectives
                t = self._pick_template(rng, ctx, True, False)
                calls = [plan_call(tool, rng, 0.25) for _ in range(n)]
                answers = [possible_answer(c) for c in calls]
                if len({json.dumps(a, sort_keys=True) for a in answers}) < n:
                    continue  # two identical calls: not a parallel request
                req = render_request(t, [render_clause(c, rng) for c in calls])
            return _Gen([tool], req, answers, None, t, tool.domain)
        raise RuntimeError("could not build a parallel request")

    def _gen_parallel_multiple(self, rng: random.Random, ctx: _Ctx) -> _Gen:
        m = 2 if rng.random() < 0.7 else 3
        first = rng.choice(ctx.targets)
        # unseen_tool: the first called tool is held out, the others come from the seen ones
        pool = [x for x in (self.seen_tools if ctx.unseen_tool else ctx.targets) if x.key != first.key]
        chosen = [first]
        while len(chosen) < m:
            cand = rng.choice(pool)
            if all(cand.key != c.key for c in chosen):
                chosen.append(cand)
        t = self._pick_template(rng, ctx, True, False)
        parts: list[tuple[str, list]] = []  # (clause, its calls' answers)
        for i, tool in enumerate(chosen):
            if i == 0 and m == 2 and rng.random() < 0.3:
                got = self._coordinated(rng, tool, 2)
                if got is not None:
                    answers_i, clause = got
                    parts.append((clause, answers_i))
                    continue
            call, clause = self._clause_for(rng, tool, 0.25, False)
            parts.append((clause, [possible_answer(call)]))
        # the order the request says things in is the order of the gold calls
        rng.shuffle(parts)
        req = render_request(t, [c for c, _ in parts])
        answers = [a for _, ans in parts for a in ans]
        n_tools = rng.randint(len(chosen), 6)
        others = self._distractors(rng, ctx, chosen, n_tools - len(chosen), 0.5, avoid_groups=False)
        tools = chosen + others
        rng.shuffle(tools)
        return _Gen(tools, req, answers, None, t, first.domain)

    def _gen_irrelevance(self, rng: random.Random, ctx: _Ctx) -> _Gen:
        wanted = rng.choice(ctx.targets)
        _, req, t = self._single_request(rng, ctx, wanted)
        tools = self._distractors(rng, ctx, [wanted], rng.randint(1, 4), 0.5, avoid_groups=True)
        rng.shuffle(tools)
        return _Gen(tools, req, [], IRRELEVANCE_TEXT, t, wanted.domain)

    # -- splits ---------------------------------------------------------------------------

    def context(self, part: str) -> _Ctx:
        if part == "unseen_tool":
            return _Ctx(self.held_tools, self.seen_tools, self.single_seen, self.multi_seen, True)
        if part == "unseen_template":
            return _Ctx(self.seen_tools, self.seen_tools, self.single_held, self.multi_held, False)
        return _Ctx(self.seen_tools, self.seen_tools, self.single_seen, self.multi_seen, False)

    def make_sample(self, split: str, part: str, index: int, category: str, seen_keys: set) -> Sample:
        ctx = self.context(part)
        for attempt in range(100):
            rng = random.Random(f"{self.seed}/{split}/{part}/{index}/{attempt}")
            g = self.gen(category, rng, ctx)
            limit = MAX_WORDS_MULTI if g.template.conn >= 0 else MAX_WORDS_SINGLE
            if len(g.request.split()) > limit:
                continue
            key = g.request.lower() + "|" + ",".join(sorted(t.name for t in g.tools))
            if key in seen_keys:
                continue
            seen_keys.add(key)
            break
        else:
            raise RuntimeError(f"could not make a fresh {category} sample for {split}/{part}/{index}")
        unseen_tool = any(t.held_out for t in g.tools) or (category == "irrelevance" and ctx.unseen_tool)
        return Sample(
            id=f"synth-{split}-{index:06d}",
            tools=[self.specs[t.name] for t in g.tools],
            messages=[Message(role="user", content=g.request)],
            answer=g.answer,
            text=g.text,
            category=category,
            source="synth",
            meta={"split": split, "part": part, "unseen_tool": unseen_tool,
                  "unseen_template": g.template in self.held_templates, "template_id": g.template.id, "domain": g.domain},
        )


def _param(tool: SynthTool, name: str) -> Param:
    for p in tool.params:
        if p.name == name:
            return p
    raise KeyError(name)


def _allocate(n: int, shares: dict[str, float]) -> dict[str, int]:
    """Split n by shares, largest remainders first (ties by name): exact and deterministic."""
    keys = sorted(shares)
    total = sum(shares.values())
    raw = {k: n * shares[k] / total if total else 0 for k in keys}
    out = {k: int(raw[k]) for k in keys}
    rest = n - sum(out.values())
    for k in sorted(keys, key=lambda k: (-(raw[k] - out[k]), k))[:rest]:
        out[k] += 1
    return out


def resolve_shares(shares: dict[str, float] | None) -> dict[str, float]:
    """Category shares: given ones are kept, the others share the rest in their default
    proportions. Unknown categories, negative shares or a sum above 1 are errors."""
    if not shares:
        return dict(DEFAULT_SHARES)
    bad = sorted(set(shares) - set(SYNTH_CATEGORIES))
    if bad:
        raise ValueError(f"unknown categories {bad}; choose among {', '.join(SYNTH_CATEGORIES)}")
    if any(v < 0 for v in shares.values()):
        raise ValueError("shares must not be negative")
    given = sum(shares.values())
    if given > 1 + 1e-9:
        raise ValueError(f"shares add up to {given:g}, more than 1")
    rest = [c for c in SYNTH_CATEGORIES if c not in shares]
    rest_default = sum(DEFAULT_SHARES[c] for c in rest)
    out = {c: float(shares.get(c, 0.0)) for c in SYNTH_CATEGORIES}
    for c in rest:
        out[c] = (1 - given) * DEFAULT_SHARES[c] / rest_default if rest_default else 0.0
    if sum(out.values()) <= 0:
        raise ValueError("shares add up to 0")
    return out


def parse_shares(text: str) -> dict[str, float]:
    """``"simple=0.3,irrelevance=0.2"`` -> {"simple": 0.3, "irrelevance": 0.2}."""
    out: dict[str, float] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise ValueError(f"bad share {part.strip()!r}: write CATEGORY=FRACTION")
        k, v = part.split("=", 1)
        try:
            out[k.strip()] = float(v)
        except ValueError:
            raise ValueError(f"bad share {part.strip()!r}: {v.strip()!r} is not a number") from None
    return out


def synthesize(
    n: int,
    seed: int,
    shares: dict[str, float] | None = None,
    *,
    splits: dict[str, float] | None = None,
    test_mix: dict[str, float] | None = None,
    held_out_template_share: float = HELD_OUT_TEMPLATE_SHARE,
    on_sample: Callable[[], None] | None = None,
) -> dict[str, list[Sample]]:
    """Generate ``n`` samples split into train/dev/test (see the module docstring)."""
    if n < 0:
        raise ValueError("n must not be negative")
    shares = resolve_shares(shares)
    splits = splits or DEFAULT_SPLITS
    test_mix = test_mix or DEFAULT_TEST_MIX
    if set(splits) != {"train", "dev", "test"}:
        raise ValueError("splits must give train, dev and test")
    syn = Synthesizer(seed, held_out_template_share=held_out_template_share)
    counts = _allocate(n, splits)
    seen: set[str] = set()
    out: dict[str, list[Sample]] = {}
    # test first, then dev, then train: a request already used in an evaluation split is
    # never generated again for training.
    for split in ("test", "dev", "train"):
        parts = _allocate(counts[split], test_mix) if split == "test" else {"seen": counts[split]}
        samples: list[Sample] = []
        index = 0
        for part in sorted(parts):
            cats = _allocate(parts[part], shares)
            order = [c for c in sorted(cats) for _ in range(cats[c])]
            random.Random(f"{seed}/{split}/{part}/order").shuffle(order)
            for cat in order:
                samples.append(syn.make_sample(split, part, index, cat, seen))
                index += 1
                if on_sample is not None:
                    on_sample()
        out[split] = samples
    return {k: out[k] for k in ("train", "dev", "test")}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_corpus(
    out_dir: str | Path,
    n: int,
    seed: int,
    shares: dict[str, float] | None = None,
    *,
    on_sample: Callable[[], None] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Write train.jsonl, dev.jsonl, test.jsonl, tools.json and manifest.json to ``out_dir``;
    returns the manifest. Same arguments, same bytes."""
    from toolace_r.data.io import write_json, write_jsonl

    out = Path(out_dir)
    data = synthesize(n, seed, shares, on_sample=on_sample, **kwargs)
    syn = Synthesizer(seed, held_out_template_share=kwargs.get("held_out_template_share", HELD_OUT_TEMPLATE_SHARE))
    files: dict[str, str] = {}
    for split, samples in data.items():
        write_jsonl(out / f"{split}.jsonl", samples)
    write_json(out / "tools.json", [syn.specs[t.name].model_dump() for t in syn.inventory])
    for name in ("train.jsonl", "dev.jsonl", "test.jsonl", "tools.json"):
        files[name] = _sha256(out / name)
    by_cat = {split: _count(s.category for s in samples) for split, samples in data.items()}
    manifest = {
        "generator": "toolace_r.data.synth",
        "version": GENERATOR_VERSION,
        "n": n,
        "seed": seed,
        "shares": resolve_shares(shares),
        "splits": {split: len(samples) for split, samples in data.items()},
        "by_category": by_cat,
        "test_parts": _count(s.meta["part"] for s in data["test"]),
        "domains": {d: [t.name for t in ts] for d, ts in sorted(syn.by_domain.items())},
        "held_out_tools": sorted(t.name for t in syn.held_tools),
        "held_out_templates": sorted(t.id for t in syn.single_held + syn.multi_held),
        "irrelevance_text": IRRELEVANCE_TEXT,
        "files": files,
    }
    write_json(out / "manifest.json", manifest)
    return manifest


def _count(items: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return dict(sorted(out.items()))
