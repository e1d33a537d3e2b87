"""``configs/default.yaml`` and ``docs/config.md``, rendered from the config dataclasses of
:mod:`toolace_r.config` (each field's default and help text); tests keep both files equal to the code::

    python -m toolace_r.config_docs > configs/default.yaml
    python -m toolace_r.config_docs --markdown > docs/config.md
"""

from __future__ import annotations

import dataclasses
import re
import textwrap
from typing import Any

from toolace_r.config import REMOVED_KEYS, SECTIONS, RunConfig
from toolace_r.config_base import _hints, _Section

def _help(f: dataclasses.Field[Any]) -> str:
    return " ".join(str(f.metadata["help"]).split())


def _flow(value: Any) -> str:
    """One value as a YAML scalar or flow list."""
    import yaml

    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("\n...").strip()


def default_yaml() -> str:
    """The defaults as YAML, each key under its help as a comment (configs/default.yaml)."""
    lines = ["# toolace-r run: the default configuration (the embedded model on the synthetic corpus).",
             "# Generated from src/toolace_r/config.py by `python -m toolace_r.config_docs > configs/default.yaml`:",
             "# do not edit; copy it, or override keys (toolace-r run mait.rounds=3). Reference: docs/config.md.", ""]

    def comment(text: str, indent: str) -> None:
        # "\0" keeps ">= 1" and "[0, 1]" on one line
        text = re.sub(r"([\[(]\d+), (\d+[\])])", "\\1,\0\\2", text.replace(">= ", ">=\0"))
        wrapped = textwrap.wrap(text, 100, initial_indent=indent + "# ",
                                subsequent_indent=indent + "# ", break_on_hyphens=False)
        lines.extend(line.replace("\0", " ") for line in wrapped)

    cfg = RunConfig()
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(value, _Section):
            lines.append("")
            comment(_help(f), "")
            lines.append(f"{f.name}:")
            for sf in dataclasses.fields(value):  # type: ignore[arg-type]
                comment(_help(sf), "  ")
                lines.append(f"  {sf.name}: {_flow(getattr(value, sf.name))}")
        else:
            comment(_help(f), "")
            lines.append(f"{f.name}: {_flow(value)}")
    return "\n".join(lines) + "\n"


def reference_markdown() -> str:
    """Every key with its type, default and help, a table per section (docs/config.md)."""
    def table(obj: Any, prefix: str) -> list[str]:
        rows = ["| key | type | default | help |", "|---|---|---|---|"]
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if not isinstance(value, _Section):
                typ = str(_hints(type(obj))[f.name]).replace("<class '", "").replace("'>", "")
                help_text = _help(f).replace("|", "\\|")  # a bare | would end the table cell
                rows.append(f"| `{prefix}{f.name}` | {typ} | `{_flow(value)}` | {help_text} |")
        return rows

    cfg = RunConfig()
    out = ["# Run configuration reference", "",
           "Every key of `toolace-r run`'s config, generated from `src/toolace_r/config.py` by "
           "`python -m toolace_r.config_docs --markdown > docs/config.md` (a test keeps it current). "
           "A config is the defaults, then the YAML file (`--config`), then `key=value` overrides "
           "with dotted keys, values read as YAML (`mait.rounds=3`, `eval.modes=[none,adaptive]`). "
           "The defaults as a commented file: `configs/default.yaml`.", "",
           "## Top level", "", *table(cfg, "")]
    for name in SECTIONS:
        out += ["", f"## `{name}`", "", _help(next(f for f in dataclasses.fields(cfg) if f.name == name)), "",
                *table(getattr(cfg, name), name + ".")]
    out += ["", "## Removed keys", "", "| key | why, and what to do |", "|---|---|",
            *(f"| `{k}` | {v} |" for k, v in REMOVED_KEYS.items())]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    """``python -m toolace_r.config_docs``: print the default config; ``--markdown``: the reference."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    sys.stdout.write(reference_markdown() if args == ["--markdown"] else default_yaml())


if __name__ == "__main__":
    main()
