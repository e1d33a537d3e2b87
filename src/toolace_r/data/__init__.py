"""Tool-use data: the unified sample format, converters, the synthetic corpus, statistics.

Submodules: :mod:`~toolace_r.data.schema` (the format), :mod:`~toolace_r.data.io` (reading
and writing), :mod:`~toolace_r.data.convert` (public formats in), :mod:`~toolace_r.data.export`
(public formats out), :mod:`~toolace_r.data.normalize` (types, names, tool lists),
:mod:`~toolace_r.data.synth` (the procedural corpus), :mod:`~toolace_r.data.split` (train / dev / test
from one file), :mod:`~toolace_r.data.stats`.
"""

from toolace_r.data.io import ConversionReport, DataError, read_samples, write_samples
from toolace_r.data.schema import CATEGORIES, Message, Sample, ToolCall, ToolSpec

__all__ = ["CATEGORIES", "ConversionReport", "DataError", "Message", "Sample", "ToolCall", "ToolSpec",
           "read_samples", "write_samples"]
