"""GraphiQL at /graphql works with no internet: its browser files are served by Mímir at
/graphql-assets at the versions strawberry's page pins, and a real headless Chromium, with
every request off this server refused, runs a query against a real `mimir serve`."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from strawberry.http.ides import get_graphql_ide_html

from mimir.config import Settings
from mimir.db.lifecycle import PreparedDatabase
from mimir.graphql.ide import ASSETS_DIR, ASSETS_PATH, graphiql_html, unpkg_assets
from tests.process import free_port, wait_healthy

CHROMIUM = os.environ.get("MIMIR_TEST_CHROMIUM", "/usr/bin/chromium")
# As the machine's own probe starts it: no background traffic to hosts that cannot be
# reached, no GPU, a fresh profile (launch_persistent_context's user_data_dir).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PACKAGE_JSON = Path(__file__).resolve().parents[2] / "graphiql" / "package.json"
SEEDED_TITLE = "Offline GraphiQL finds this note"
MIMIR = str(Path(sys.executable).parent / "mimir")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _require(ready: bool, missing: str) -> None:
    """Skip on a developer's machine that lacks a tool; fail in CI, which must have it."""
    if ready:
        return
    if _in_ci():
        pytest.fail(f"{missing} (CI=1: .ci/run and `make install` must provide it)")
    pytest.skip(missing)


def _require_assets() -> None:
    _require(ASSETS_DIR.is_dir(), f"GraphiQL's files are not installed in {ASSETS_DIR}: "
             "run `make install` with npm on the PATH")


def _sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


class TestPinnedVersions:
    def test_package_json_pins_what_strawberrys_page_loads(self):
        """Every package@version strawberry's GraphiQL page loads is pinned exactly in
        graphiql/package.json and its lock (a strawberry upgrade that moves them fails here)."""
        pinned = json.loads(PACKAGE_JSON.read_text())["dependencies"]
        locked = json.loads(PACKAGE_JSON.with_name("package-lock.json").read_text())["packages"]
        wanted = {(package, version) for package, version, _ in
                  unpkg_assets(get_graphql_ide_html("graphiql"))}
        assert {package for package, _ in wanted} == {"react", "react-dom", "js-cookie",
                                                     "graphiql", "@graphiql/plugin-explorer"}
        for package, version in wanted:
            assert pinned.get(package) == version, f"package.json: {package}@{version}"
            assert locked[f"node_modules/{package}"]["version"] == version, package


class TestPage:
    def _install(self, root: Path, package: str, version: str, *files: str) -> None:
        (root / package).mkdir(parents=True)
        (root / package / "package.json").write_text(json.dumps({"version": version}))
        for name in files:
            (root / package / name).parent.mkdir(parents=True, exist_ok=True)
            (root / package / name).write_text("x")

    def test_only_files_installed_at_the_pinned_version_are_local(self, tmp_path):
        """A file installed at the page's version is loaded locally; a missing file or
        another version keeps its unpkg URL; the rest of strawberry's page is unchanged."""
        self._install(tmp_path, "react", "18.2.0", "umd/react.production.min.js")
        self._install(tmp_path, "react-dom", "18.3.1", "umd/react-dom.production.min.js")
        self._install(tmp_path, "graphiql", "3.8.3", "graphiql.min.css")
        html = graphiql_html("/root/graphql-assets", tmp_path)
        assert 'src="/root/graphql-assets/react/umd/react.production.min.js"' in html
        assert 'href="/root/graphql-assets/graphiql/graphiql.min.css"' in html
        assert "https://unpkg.com/react-dom@18.2.0/umd/react-dom.production.min.js" in html
        assert "https://unpkg.com/graphiql@3.8.3/graphiql.min.js" in html
        assert html.count("/root/graphql-assets/") == 2
        template = get_graphql_ide_html("graphiql")
        assert re.sub(r'(src|href)="[^"]*"', "", html) == re.sub(r'(src|href)="[^"]*"', "", template)

    def test_nothing_installed_is_strawberrys_page(self, tmp_path):
        """Without the installed files the page is exactly strawberry's (unpkg.com)."""
        assert graphiql_html(ASSETS_PATH, tmp_path / "missing") == get_graphql_ide_html("graphiql")


class TestServed:
    async def test_page_and_files_are_served_with_matching_integrity(self, client):
        """GET /graphql in a browser's way returns a page with no unpkg URL, and each file it
        names is served with the bytes its integrity hash pins."""
        _require_assets()
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert "unpkg.com" not in page.text
        tags = re.findall(r'(?:src|href)="(/graphql-assets/[^"]+)"\s+integrity="([^"]+)"',
                          page.text)
        assert len(tags) == 7
        for url, integrity in tags:
            response = await client.get(url)
            assert response.status_code == 200, url
            assert _sri(response.content) == integrity, url

    async def test_assets_are_read_only(self, client):
        """/graphql-assets serves files only: writes are refused, paths cannot climb out."""
        _require_assets()
        assert (await client.post("/graphql-assets/react/package.json")).status_code == 405
        climbed = await client.get("/graphql-assets/../../pyproject.toml")
        assert climbed.status_code == 404

    async def test_not_mounted_when_graphiql_is_off(self, tmp_path):
        """With MIMIR_GRAPHIQL=false GraphiQL's files are not served."""
        from mimir.app import create_app

        settings = Settings(_env_file=None, MIMIR_DATA_DIR=str(tmp_path), MIMIR_GRAPHIQL=False)
        app = create_app(settings, PreparedDatabase(conninfo="postgresql://unused"))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mimir.test") as http:
            assert (await http.get("/graphql-assets/react/package.json")).status_code == 404


@pytest.fixture
def served(pg_data_dir) -> Iterator[str]:
    """A real `mimir serve` on a free port with its own embedded PostgreSQL; its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "POSTGRES_PASSWORD", "MIMIR_TEST_DATABASE_URL"}}
    env.update(MIMIR_DATA_DIR=str(pg_data_dir / "data"), MIMIR_PORT=str(port),
               MIMIR_GRAPHIQL="true", LOG_LEVEL="WARNING")
    proc = subprocess.Popen([MIMIR, "serve"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base_url, proc)
        yield base_url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class TestBrowser:
    def test_graphiql_runs_a_query_offline(self, served, tmp_path):
        """Headless Chromium opens /graphql with every other host refused, types a query into
        the editor, runs it, and the result pane shows the artifact seeded over REST."""
        _require(Path(CHROMIUM).exists() or bool(shutil.which(CHROMIUM)),
                 f"no Chromium at {CHROMIUM}: apt-get install chromium")
        _require_assets()
        try:
            from playwright.sync_api import expect, sync_playwright
        except ImportError:
            _require(False, "the playwright Python package is not installed")

        seeded = httpx.post(f"{served}/api/v1/artifacts", json={
            "kind": "note", "title": SEEDED_TITLE, "content": "seen through GraphiQL"})
        assert seeded.status_code == 201, seeded.text

        refused: list[str] = []
        problems: list[str] = []

        def only_this_server(route):
            if route.request.url.startswith(served + "/"):
                route.continue_()
            else:
                refused.append(route.request.url)
                route.abort()

        query = "{ artifacts(first: 5) { edges { node { title } } } }"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True,
                args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 800})
            try:
                browser.route("**/*", only_this_server)
                page = browser.pages[0] if browser.pages else browser.new_page()
                page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
                page.on("console", lambda msg: msg.type == "error"
                        and problems.append(f"console: {msg.text}"))
                page.goto(f"{served}/graphql")
                editor = page.locator(".graphiql-query-editor .CodeMirror").first
                try:
                    expect(editor).to_be_visible(timeout=30_000)
                except AssertionError as error:
                    raise AssertionError(f"GraphiQL did not start; refused={refused} "
                                         f"problems={problems}") from error

                editor.click()
                page.keyboard.press("Control+A")
                page.keyboard.press("Delete")
                # insert_text types without key events, so the editor adds no closing
                # brackets of its own.
                page.keyboard.insert_text(query)
                typed = page.evaluate(
                    "document.querySelector('.graphiql-query-editor .CodeMirror')"
                    ".CodeMirror.getValue()")
                assert typed == query
                page.locator("button.graphiql-execute-button").click()

                result = page.locator(".graphiql-response .result-window")
                expect(result).to_contain_text(SEEDED_TITLE, timeout=30_000)
                expect(result).to_contain_text('"edges"')
                page.screenshot(path=str(tmp_path / "graphiql.png"))
            finally:
                browser.close()

        assert refused == [], f"the page asked for files off this server: {refused}"
        assert problems == [], problems
