"""Mímir: durable memory for people and LLM agents."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mimir")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
