"""Importers that bring existing history (ChatGPT exports, ...) into Mímir."""
