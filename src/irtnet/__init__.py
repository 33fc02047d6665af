"""irtnet: compact, interpretable representations of LLM abilities with Item Response Theory."""

__version__ = "0.1.0"
