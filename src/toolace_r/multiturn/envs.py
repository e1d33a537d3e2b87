"""BFCL v4 multi-turn environments: load BFCL's own backend classes and execute parsed calls on them.

The multi-turn categories are judged by executing calls on small stateful Python classes
(``GorillaFileSystem``, ``TwitterAPI``, ``TradingBot``, ...) that ship in the bfcl-eval wheel under
``bfcl_eval/eval_checker/multi_turn_eval/func_source_code/``. Those files ARE the semantics of the
ground truth, so we run them as they are: :func:`load_classes` copies them out of the wheel (or the
unpacked folder that :func:`toolace_r.bfcl.locate` found) into a temporary folder and imports them with
:mod:`importlib` under a private package name; ``bfcl_eval`` itself is never imported.

:class:`Environment` holds one instance per involved class of one entry, set up the way BFCL's
checker does it (``_load_scenario(deepcopy(initial_config[cls]), long_context=...)``, except for the
stateless ``MathAPI``), and executes calls on them. A call reaches a method only by name lookup in a
table of the instances' public bound methods; model text is never ``eval``-ed or ``exec``-ed:

* call strings (the ground truth's ``"sort('final_report.pdf')"``, or decoded model steps) are read
  with :func:`parse_call_string` (``ast`` + literal values only); positional arguments are mapped to
  parameter names with :func:`inspect.signature` before the method is called;
* :class:`toolace_r.calls.Call` objects (from :func:`toolace_r.calls.parse_calls`) carry keyword
  arguments only.

Each execution gives one result string, as BFCL's ``execute_multi_turn_func_call`` does: a ``str``
result as is, a ``dict`` as JSON (``str`` if not serialisable), anything else through ``str``; an
exception becomes ``"Error during execution: <message>"``.

Where this departs from BFCL (which builds ``instance.method(...)`` strings with a regular
expression and ``eval``-s them):

* an unknown name, a dotted name or a name starting with ``_`` is refused, never called; the result
  mimics the ``NameError`` BFCL's ``eval`` would raise (``name 'x' is not defined``). BFCL resolves such
  a bare name in its own module's globals (so ``print(...)`` or ``len(...)`` would run there);
* a value that is not a literal (a nested call, a variable) is refused with an error result, where
  BFCL would evaluate the nested call (or raise ``NameError``);
* argument binding errors are reported with :meth:`inspect.Signature.bind`'s message, not the
  ``TypeError`` text of a real call (the wording differs; a ground-truth call never fails to bind);
* BFCL's regular expression also rewrites ``name(`` inside string arguments when ``name`` is a method;
  we pass string arguments through untouched;
* execution is bounded: arguments are deep-copied (a method cannot mutate the caller's values), and
  a call that runs longer than ``timeout_s`` (main thread only, via ``SIGALRM``) becomes an error result.
"""

from __future__ import annotations

import ast
import atexit
import copy
import importlib.util
import inspect
import json
import shutil
import signal
import sys
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

# Backend classes of the four multi-turn categories, and the file that defines each.
CLASS_FILES = {
    "GorillaFileSystem": "gorilla_file_system",
    "MathAPI": "math_api",
    "MessageAPI": "message_api",
    "TwitterAPI": "posting_api",
    "TicketAPI": "ticket_api",
    "TradingBot": "trading_bot",
    "TravelAPI": "travel_booking",
    "VehicleControlAPI": "vehicle_control",
}
STATELESS = frozenset({"MathAPI"})  # no scenario to load
# Method names BFCL's executor refuses before calling (its own safety list); same message here.
BLOCKED = frozenset({"kill", "exit", "quit", "remove", "unlink", "popen", "Popen", "run"})
ERROR_PREFIX = "Error during execution: "
_SRC_DIR = "eval_checker/multi_turn_eval/func_source_code"
# The backends import their shared constants by this absolute name.
_LONG_CONTEXT_NAME = "bfcl_eval.eval_checker.multi_turn_eval.func_source_code.long_context"
_PKG = "_toolace_r_bfcl_envs"
_LOADED: dict[str, dict[str, type]] = {}
_LOCK = threading.Lock()


class EnvError(RuntimeError):
    """The backend classes could not be found or imported."""


# --------------------------------------------------------------------------------------
# Loading the classes


def _source_files(source: Any) -> tuple[str, dict[str, bytes]]:
    """(a description, {file name: bytes}) of the backend folder next to BFCL's data folder."""
    from toolace_r import bfcl

    src = source if isinstance(source, bfcl.BfclSource) else bfcl.locate(source, download=False)
    wanted = {f"{stem}.py" for stem in CLASS_FILES.values()} | {"long_context.py"}
    files: dict[str, bytes] = {}
    if src.archive:
        root = src.prefix[: -len("data/")] if src.prefix.endswith("data/") else src.prefix
        inner = f"{root}{_SRC_DIR}/"
        with zipfile.ZipFile(src.path) as z:
            for name in wanted:
                if inner + name in z.namelist():
                    files[name] = z.read(inner + name)
        where = f"{src.path}!{inner}"
    else:
        folder = Path(src.path).parent / _SRC_DIR
        for name in wanted:
            if (folder / name).is_file():
                files[name] = (folder / name).read_bytes()
        where = str(folder)
    missing = sorted(wanted - set(files))
    if missing:
        raise EnvError(f"BFCL backend classes missing at {where}: {', '.join(missing)}")
    return where, files


def _import(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise EnvError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_classes(source: Any = None) -> dict[str, type]:
    """{class name: class} of the multi-turn backends, imported once per process and data source.

    ``source``: a :class:`toolace_r.bfcl.BfclSource`, a path :func:`toolace_r.bfcl.locate` accepts,
    or None for the cached wheel (never downloaded from here).
    """
    where, files = _source_files(source)
    with _LOCK:
        if where in _LOADED:
            return _LOADED[where]
        tmp = Path(tempfile.mkdtemp(prefix="toolace-r-bfcl-envs-"))
        atexit.register(shutil.rmtree, tmp, True)
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        pkg = f"{_PKG}{len(_LOADED)}"
        long_context = _import(tmp / "long_context.py", f"{pkg}.long_context")
        # The backends say ``from bfcl_eval....long_context import X``: lend them ours while they
        # import (a real bfcl_eval, if any, is put back afterwards).
        saved = sys.modules.get(_LONG_CONTEXT_NAME)
        sys.modules[_LONG_CONTEXT_NAME] = long_context
        try:
            classes = {}
            for cls, stem in CLASS_FILES.items():
                try:
                    module = _import(tmp / f"{stem}.py", f"{pkg}.{stem}")
                except ImportError as e:  # math_api needs mpmath
                    raise EnvError(f"cannot import BFCL backend {stem}.py from {where}: {e}") from None
                classes[cls] = getattr(module, cls)
        finally:
            if saved is None:
                sys.modules.pop(_LONG_CONTEXT_NAME, None)
            else:
                sys.modules[_LONG_CONTEXT_NAME] = saved
        _LOADED[where] = classes
        return classes


# --------------------------------------------------------------------------------------
# Call strings


@dataclass(frozen=True)
class CallSpec:
    """A call to execute: a name, positional and keyword arguments; ``error`` set when the text
    did not read as a call with literal arguments (executing it gives that error)."""

    name: str
    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    error: str = ""


MAX_CALL_CHARS = 100_000


def parse_call_string(text: str) -> CallSpec:
    """Read one ``name(arg, key=value)`` string with :mod:`ast`; values must be literals."""
    if not isinstance(text, str) or len(text) > MAX_CALL_CHARS:
        return CallSpec("", error="not a call string (or too long)")
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        return CallSpec("", error=f"invalid syntax ({type(e).__name__})")
    if not isinstance(node, ast.Call):
        return CallSpec("", error="not a call")
    name = _dotted(node.func)
    if name is None:
        return CallSpec("", error="a call without a plain function name")
    try:
        args = tuple(ast.literal_eval(a) for a in node.args)
        kwargs = {}
        for kw in node.keywords:
            if kw.arg is None:
                return CallSpec(name, error="'**' arguments are not accepted")
            kwargs[kw.arg] = ast.literal_eval(kw.value)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        # BFCL would evaluate it (a nested call, a variable); we refuse non-literal values
        return CallSpec(name, error=f"a non-literal argument value in a call to {name}")
    if any(isinstance(a, ast.Starred) for a in node.args):
        return CallSpec(name, error="'*' arguments are not accepted")
    return CallSpec(name, args, kwargs)


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def as_spec(call: Any) -> CallSpec:
    """A call string, a :class:`CallSpec`, or a decoded call (``.name`` / ``.arguments``)."""
    if isinstance(call, CallSpec):
        return call
    if isinstance(call, str):
        return parse_call_string(call)
    name, arguments = getattr(call, "name", None), getattr(call, "arguments", None)
    if isinstance(name, str) and isinstance(arguments, Mapping):
        return CallSpec(name, (), dict(arguments))
    return CallSpec("", error=f"not a call: {type(call).__name__}")


def format_result(value: Any) -> str:
    """A method's return value as BFCL records it."""
    if type(value) is str:
        return value
    if type(value) is dict:
        try:
            return json.dumps(value)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


# --------------------------------------------------------------------------------------
# Environments


class _Timeout(Exception):
    pass


_SIGNATURES: dict[Any, inspect.Signature] = {}


def _signature(method) -> inspect.Signature:
    """The bound method's signature, cached per function (computing it dominates a cheap call)."""
    func = getattr(method, "__func__", method)
    sig = _SIGNATURES.get(func)
    if sig is None:
        sig = _SIGNATURES[func] = inspect.signature(method)
    return sig


class Environment:
    """The instances of one entry's involved classes, and execution of calls on them.

    ``long_context``: BFCL loads long-context scenarios for the ``multi_turn_long_context`` category.
    ``timeout_s``: wall-clock bound of one call (enforced in the main thread only; 0 disables).
    """

    def __init__(self, initial_config: Mapping[str, Any], involved_classes: list[str], *,
                 long_context: bool = False, classes: Mapping[str, type] | None = None,
                 source: Any = None, timeout_s: float = 10.0):
        classes = classes if classes is not None else load_classes(source)
        self.timeout_s = timeout_s
        self.instances: dict[str, Any] = {}
        self.methods: dict[str, Any] = {}
        for name in involved_classes:
            if name not in classes:
                raise EnvError(f"unknown BFCL backend class {name!r}")
            instance = classes[name]()
            if name not in STATELESS:
                instance._load_scenario(copy.deepcopy(initial_config.get(name, {})), long_context=long_context)
            self.instances[name] = instance
            # a later class's method of the same name wins, as in BFCL's name table
            for method_name, method in inspect.getmembers(instance, predicate=inspect.ismethod):
                if not method_name.startswith("_"):
                    self.methods[method_name] = method

    @classmethod
    def for_entry(cls, entry: Mapping[str, Any], **kw) -> "Environment":
        """The environment of a BFCL multi-turn entry (``initial_config``, ``involved_classes``, ``id``)."""
        category = str(entry.get("id", "")).rsplit("_", 1)[0]
        long_context = "long_context" in category or "composite" in category
        return cls(entry.get("initial_config") or {}, list(entry["involved_classes"]), long_context=long_context, **kw)

    def execute(self, call: Any) -> str:
        """Execute one call (string, CallSpec or decoded call); always returns a result string."""
        spec = as_spec(call)
        if spec.error:
            return ERROR_PREFIX + spec.error
        parts = spec.name.split(".")
        blocked = parts[1] if len(parts) > 1 else parts[0]  # the name BFCL's safety check looks at
        if blocked in BLOCKED:
            return f"{ERROR_PREFIX}Function call {blocked} is not allowed."
        method = self.methods.get(spec.name) if not spec.name.startswith("_") else None
        if method is None:
            return f"{ERROR_PREFIX}name '{parts[0]}' is not defined"
        try:
            bound = _signature(method).bind(*copy.deepcopy(spec.args), **copy.deepcopy(dict(spec.kwargs)))
        except TypeError as e:
            return f"{ERROR_PREFIX}{spec.name}() {e}"
        try:
            value = self._bounded(method, bound)
        except _Timeout:
            return f"{ERROR_PREFIX}{spec.name}() ran longer than {self.timeout_s:g} s"
        except Exception as e:  # the backend's own failures are results, as in BFCL
            return f"{ERROR_PREFIX}{e}"
        return format_result(value)

    def execute_all(self, calls: list[Any]) -> list[str]:
        return [self.execute(c) for c in calls]

    def _bounded(self, method, bound: inspect.BoundArguments) -> Any:
        use_alarm = (self.timeout_s > 0 and hasattr(signal, "setitimer")
                     and threading.current_thread() is threading.main_thread())
        if not use_alarm:
            return method(*bound.args, **bound.kwargs)

        def on_alarm(signum, frame):
            raise _Timeout()

        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, self.timeout_s)
        try:
            return method(*bound.args, **bound.kwargs)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def state(self) -> dict[str, dict[str, Any]]:
        """{class: {public attribute: value}}: what BFCL compares between model and ground truth."""
        return {name: {k: v for k, v in vars(inst).items() if not k.startswith("_")}
                for name, inst in self.instances.items()}


def compare_states(model: Environment, truth: Environment) -> tuple[str, dict[str, Any]] | None:
    """The first class whose public attributes differ, with the differing attributes; None if equal.

    Attributes are those of the ground-truth instance (BFCL's rule); one the model's instance lacks
    counts as a difference (BFCL would fail with ``AttributeError`` there).
    """
    missing = object()
    for name, gt in truth.instances.items():
        mine = model.instances[name]
        diffs = {}
        for attr, want in vars(gt).items():
            if attr.startswith("_"):
                continue
            got = getattr(mine, attr, missing)
            if got is missing or got != want:
                diffs[attr] = {"model": None if got is missing else got, "ground_truth": want}
        if diffs:
            return name, diffs
    return None
