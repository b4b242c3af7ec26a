"""Mímir over the Model Context Protocol: tools and resources that call the same services
as REST, served as streamable HTTP at /mcp (mcp/http.py) and over stdio (`mimir mcp`)."""
