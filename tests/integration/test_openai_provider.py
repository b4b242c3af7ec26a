"""The OpenAI-compatible embedding provider against a real local HTTP server (uvicorn on
127.0.0.1 in a thread) that can be told to fail, answer wrong sizes or check the key."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from mimir.embeddings.provider import EmbeddingUnavailable
from mimir.embeddings.providers import OpenAICompatibleProvider

KEY = "sk-test-0123456789-very-secret"
DIMS = 8


@dataclass
class Behaviour:
    """What the fake server does next; reset before every test."""

    calls: list[dict] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)  # statuses to answer first
    dims: int = DIMS
    require_key: str | None = None
    echo_key_in_error: bool = False


state = Behaviour()
app = FastAPI()


def fake_vector(text: str, dims: int) -> list[float]:
    return [float((len(text) + i) % 7) + 0.5 for i in range(dims)]


@app.post("/v1/embeddings")
async def embeddings(request: Request):
    body = await request.json()
    state.calls.append({"auth": request.headers.get("authorization"), "body": body})
    if state.fail_next:
        return JSONResponse({"error": {"message": "overloaded"}}, status_code=state.fail_next.pop(0))
    if state.require_key and request.headers.get("authorization") != f"Bearer {state.require_key}":
        sent = request.headers.get("authorization", "")
        message = f"Incorrect API key provided: {sent}" if state.echo_key_in_error else "bad key"
        return JSONResponse({"error": {"message": message}}, status_code=401)
    inputs = body["input"]
    data = [{"object": "embedding", "index": i, "embedding": fake_vector(t, state.dims)}
            for i, t in enumerate(inputs)]
    data.reverse()  # servers need not answer in order: the provider sorts by index
    return {"object": "list", "data": data, "model": body["model"]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "fake embedding server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def reset_state():
    state.__dict__.update(Behaviour().__dict__)
    yield


def make(base_url: str, **kw) -> OpenAICompatibleProvider:
    kw.setdefault("model", "fake-embed")
    kw.setdefault("backoff_initial_s", 0.01)
    kw.setdefault("backoff_max_s", 0.05)
    return OpenAICompatibleProvider(base_url=base_url, **kw)


class TestOpenAICompatibleProvider:
    async def test_happy_path(self, base_url):
        """Passages and a query come back in input order with the model's size learned."""
        provider = make(base_url)
        texts = ["a", "bb", "ccc"]
        vectors = await provider.embed_passages(texts)
        assert vectors == [fake_vector(t, DIMS) for t in texts]
        assert provider.dimensions == DIMS
        assert await provider.embed_query("dddd") == fake_vector("dddd", DIMS)
        assert state.calls[0]["body"] == {"model": "fake-embed", "input": texts}
        assert provider.name == "openai" and provider.distance == "cosine"

    async def test_probe_dimensions(self, base_url):
        """Unknown dimensions are learned with one probe call."""
        provider = make(base_url)
        assert await provider.probe_dimensions() == DIMS
        assert len(state.calls) == 1

    async def test_batches_large_inputs(self, base_url):
        """Inputs beyond the batch size go in several requests, order kept."""
        provider = make(base_url, batch_size=4)
        texts = [f"text {'x' * i}" for i in range(10)]
        vectors = await provider.embed_passages(texts)
        assert [len(c["body"]["input"]) for c in state.calls] == [4, 4, 2]
        assert vectors == [fake_vector(t, DIMS) for t in texts]

    async def test_auth_header_only_with_key(self, base_url):
        """The Bearer header is sent when a key is set, and not at all without one."""
        await make(base_url).embed_query("x")
        await make(base_url, api_key=KEY).embed_query("x")
        assert state.calls[0]["auth"] is None
        assert state.calls[1]["auth"] == f"Bearer {KEY}"

    async def test_retries_503_then_succeeds(self, base_url):
        """503 and 429 are retried with backoff; the call then succeeds."""
        state.fail_next = [503, 429, 502]
        provider = make(base_url, max_attempts=4)
        assert await provider.embed_query("abc") == fake_vector("abc", DIMS)
        assert len(state.calls) == 4

    async def test_gives_up_after_attempts(self, base_url):
        """A server that keeps failing is a 503 EmbeddingUnavailable after max attempts."""
        state.fail_next = [500] * 10
        with pytest.raises(EmbeddingUnavailable, match="HTTP 500 after 3 attempts"):
            await make(base_url, max_attempts=3, api_key=KEY).embed_query("abc")
        assert len(state.calls) == 3

    async def test_unreachable_hides_key(self):
        """Nothing listening -> EmbeddingUnavailable (503) whose message has no key."""
        provider = make(f"http://127.0.0.1:{free_port()}/v1", api_key=KEY, max_attempts=2)
        with pytest.raises(EmbeddingUnavailable) as info:
            await provider.embed_passages(["x"])
        assert info.value.status_code == 503
        assert "unreachable" in info.value.message
        assert KEY not in info.value.message and KEY not in str(info.value)
        assert KEY not in repr(info.value.details)

    async def test_rejected_key_is_not_retried_nor_echoed(self, base_url):
        """A 401 is not retried, and a server that echoes the key does not leak it."""
        state.require_key = "the-right-key"
        state.echo_key_in_error = True
        with pytest.raises(EmbeddingUnavailable) as info:
            await make(base_url, api_key=KEY).embed_query("x")
        assert len(state.calls) == 1
        assert "HTTP 401" in info.value.message
        assert KEY not in info.value.message

    async def test_wrong_dimension_is_an_error(self, base_url):
        """Vectors of another size than MIMIR_EMBEDDING_DIMENSIONS are refused."""
        state.dims = 5
        with pytest.raises(EmbeddingUnavailable, match="5-dimensional vectors; expected 8"):
            await make(base_url, dimensions=8).embed_passages(["a", "b"])

    async def test_dimension_change_between_answers_is_an_error(self, base_url):
        """A server that changes its vector size midway is refused, not silently mixed."""
        provider = make(base_url)
        await provider.embed_query("a")
        state.dims = 16
        with pytest.raises(EmbeddingUnavailable, match="expected 8"):
            await provider.embed_query("b")

    async def test_timeout_is_unavailable(self, base_url):
        """A server slower than the timeout is EmbeddingUnavailable, after retries."""

        @app.post("/slow/embeddings")
        async def slow(request: Request):
            import asyncio

            await asyncio.sleep(1)
            return {"data": []}

        provider = make(base_url.replace("/v1", "/slow"), timeout_s=0.1, max_attempts=2)
        with pytest.raises(EmbeddingUnavailable, match="did not answer in time"):
            await provider.embed_query("x")
