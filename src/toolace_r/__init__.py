"""toolace-r: the ToolACE-R method (model-aware iterative training, self-refinement corpus,
adaptive self-refinement) for tool-calling LLMs, with a BFCL-compatible checker."""

__version__ = "0.1.0"
