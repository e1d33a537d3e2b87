"""Tool-use data: the unified sample format, converters, the synthetic corpus, statistics."""

from toolace_r.data.schema import CATEGORIES, Message, Sample, ToolCall, ToolSpec

__all__ = ["CATEGORIES", "Message", "Sample", "ToolCall", "ToolSpec"]
