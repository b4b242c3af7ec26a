"""GraphiQL at /graphql that works without the internet.

Strawberry's GraphiQL page loads React, GraphiQL and its explorer plugin from unpkg.com. The
same files, at the same versions (graphiql/package.json, installed by `make install` with
npm into graphiql/node_modules), are served by Mímir at /graphql-assets/, and the page is
strawberry's own with each unpkg URL pointed there. A file that is not installed at the
version the page asks for keeps its unpkg URL, so without npm the page still works online.
The page's integrity hashes are kept: the browser checks that the local bytes are the ones
strawberry pinned.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from strawberry.fastapi import GraphQLRouter
from strawberry.http.ides import get_graphql_ide_html

from mimir.graphql import body
from mimir.graphql.cost import too_large_response

ASSETS_PATH = "/graphql-assets"
# src/mimir/graphql/ide.py -> the repository root, where `make install` runs npm.
ASSETS_DIR = Path(__file__).resolve().parents[3] / "graphiql" / "node_modules"

_UNPKG_URL = re.compile(
    r"https://unpkg\.com/(?P<package>(?:@[\w.-]+/)?[\w.-]+)@(?P<version>[\w.+-]+)/(?P<file>[^\"'\s]+)"
)


def unpkg_assets(html: str) -> list[tuple[str, str, str]]:
    """(package, version, file) of every unpkg.com URL in a page, in order."""
    return [(m["package"], m["version"], m["file"]) for m in _UNPKG_URL.finditer(html)]


def _installed_version(package_dir: Path) -> str | None:
    try:
        return json.loads((package_dir / "package.json").read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def graphiql_html(assets_url: str = ASSETS_PATH, assets_dir: Path = ASSETS_DIR) -> str:
    """Strawberry's GraphiQL page with each unpkg.com file that is installed at the same
    version under `assets_dir` loaded from `assets_url` instead."""
    versions: dict[str, str | None] = {}

    def local(match: re.Match[str]) -> str:
        package, version, file = match["package"], match["version"], match["file"]
        package_dir = assets_dir / package
        if package not in versions:
            versions[package] = _installed_version(package_dir)
        if versions[package] == version and (package_dir / file).is_file():
            return f"{assets_url}/{package}/{file}"
        return match.group(0)

    return _UNPKG_URL.sub(local, get_graphql_ide_html("graphiql"))


class LocalGraphiQLRouter(GraphQLRouter):
    """strawberry's FastAPI router, whose GraphiQL page loads its files from this server
    and whose responses are compact UTF-8 JSON (as the compiled path prints them)."""

    max_response_bytes: int | None = None

    def decode_json(self, data: str | bytes) -> object:
        return body.decode(data)

    def encode_json(self, data: object) -> str:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        limit = self.max_response_bytes
        if limit is not None and len(text) * 4 > limit and len(text.encode()) > limit:
            text = json.dumps(too_large_response(limit), ensure_ascii=False,
                              separators=(",", ":"))
        return text

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        if self.graphql_ide != "graphiql":
            return await super().render_graphql_ide(request)
        root_path = request.scope.get("root_path", "").rstrip("/")
        return HTMLResponse(graphiql_html(root_path + ASSETS_PATH))


def mount_graphiql_assets(app: FastAPI, assets_dir: Path = ASSETS_DIR) -> bool:
    """Serve the installed GraphiQL files read-only at /graphql-assets; False (nothing
    mounted) when they are not installed."""
    if not assets_dir.is_dir():
        return False
    app.mount(ASSETS_PATH, StaticFiles(directory=assets_dir), name="graphql-assets")
    return True


__all__ = [
    "ASSETS_DIR",
    "ASSETS_PATH",
    "LocalGraphiQLRouter",
    "graphiql_html",
    "mount_graphiql_assets",
    "unpkg_assets",
]
