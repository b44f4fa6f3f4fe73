"""The command line, run in-process: build, search, similar, eval, and its error messages."""
import json
from pathlib import Path

import pytest

from assistant.cli import main


@pytest.fixture
def env(settings, monkeypatch):
    monkeypatch.setenv("ASSISTANT_MODEL", "fake")
    monkeypatch.setenv("ASSISTANT_CORPUS_DIR", str(settings.index.corpus_dir))
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(settings.index.index_dir))
    monkeypatch.setenv("ASSISTANT_ABSTENTION__ENABLED", "false")
    return settings


def test_build_then_search_json(env, capsys):
    assert main(["build"]) == 0
    assert "index ready: 4 speeches" in capsys.readouterr().out
    assert main(["search", "人大监督要采取哪些形式", "--k", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["hits"]) == 2 and out["abstained"] is False
    h = out["hits"][0]
    assert "执法检查" in h["text"] and h["citation"].startswith("《在全镇人大工作会议上的讲话》")
    assert isinstance(h["score"], float)


@pytest.fixture
def built(env, capsys):
    assert main(["build"]) == 0
    capsys.readouterr()
    return env


def test_search_never_builds_it_says_how(env, capsys):
    assert main(["search", "信访稳定"]) == 2
    assert "python -m assistant build" in capsys.readouterr().err
    assert not (env.index.index_dir / "current").exists()  # a read wrote nothing
    assert main(["build"]) == 0
    capsys.readouterr()
    assert main(["search", "信访稳定"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("[1] 《") and "信访稳定" in out


def test_similar(built, capsys):
    assert main(["similar", "信访稳定工作是党和政府联系群众的桥梁，要做到早发现、早处理。", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert all("早发现、早处理，把矛盾" not in h["text"] or h["text"] != "" for h in out["hits"])


@pytest.mark.parametrize("args,msg", [(["search", "   "], "为空"), (["similar", ""], "为空"),
                                      (["search", "，。！"], "标点"), (["search", "长" * 5000], "过长")],
                         ids=["blank", "empty-similar", "punct", "huge"])
def test_bad_queries_exit_2_with_message(built, capsys, args, msg):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err


def test_eval_prints_table_and_writes_out(built, tmp_path, capsys):
    qfile = tmp_path / "q.jsonl"
    rows = [
        {"id": "s1", "type": "semantic", "query": "人大监督有哪些形式", "gold": ["执法检查、视察"]},
        {"id": "k1", "type": "keyword", "query": "96.5%", "gold": ["整改率达到96.5%"]},
        {"id": "m1", "type": "similar", "query": "农村低保工作要做到应保尽保，对无申请能力的，村委会要代为申请。",
         "gold": ["__never__"]},
        {"id": "n1", "type": "noanswer", "query": "森林防火怎么做", "gold": [], "note": "ignored"},
    ]
    qfile.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", "utf-8")
    out_file = tmp_path / "res.jsonl"
    assert main(["eval", str(qfile), "--k", "5", "--out", str(out_file), "--mode", "all"]) == 0
    table = capsys.readouterr().out
    for mode in ("dense", "bm25", "hybrid"):
        assert f"{mode:8} keyword       1  1.000  1.000" in table
    recs = [json.loads(l) for l in out_file.read_text("utf-8").splitlines()]
    assert [r["id"] for r in recs] == ["s1", "k1", "m1", "n1"]
    assert set(recs[0]) >= {"id", "abstained", "hits"}
    assert recs[1]["hits"][0]["text"] and isinstance(recs[1]["hits"][0]["score"], float)
    assert len(recs[0]["hits"]) <= 10


def test_eval_bad_file(env, tmp_path, capsys):
    f = tmp_path / "bad.jsonl"
    f.write_text("{not json}\n")
    assert main(["eval", str(f)]) == 2
    assert "bad.jsonl:1" in capsys.readouterr().err


def test_corrupt_index_message(env, capsys):
    assert main(["build"]) == 0
    (env.index.index_dir / "current" / "passages.faiss").write_bytes(b"junk")
    capsys.readouterr()
    assert main(["search", "信访"]) == 2
    assert "build --force" in capsys.readouterr().err


def test_search_filters(built, capsys):
    assert main(["search", "安全生产", "--json", "--source", "b.txt"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert hits and {h["source"] for h in hits} == {"b.txt"}
    assert main(["search", "安全生产", "--json", "--date-from", "2023-05-01", "--date-to", "2023-12-31"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert hits and all("2023-05-01" <= h["date"] <= "2023-12-31" for h in hits)
    assert main(["search", "安全生产", "--json", "--occasion", "全镇安全生产会议"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert hits and {h["occasion"] for h in hits} == {"全镇安全生产会议"}


# --- refused before anything heavy loads ------------------------------------------------------

REFUSED = [(["search", ""], "问题为空"), (["similar", "  "], "段落为空"), (["ask", ""], "问题为空"),
           (["search", "长" * 5000], "过长"), (["ask", "长" * 5000], "过长"),
           (["search", "监督", "--date-from", "2022-13-45"], "不是日历上存在的日期"),
           (["similar", "监督", "--date-to", "2021/1/1"], "YYYY-MM-DD"),
           (["search", "监督", "--date-from", "2023-02-01", "--date-to", "2023-01-01"], "晚于"),
           (["search", "监督", "--k", "0"], "k 必须在 1 到")]
REFUSED_IDS = ["empty-search", "blank-similar", "empty-ask", "long-search", "long-ask", "impossible-date",
               "bad-date", "date-order", "k-0"]


@pytest.mark.parametrize("args,msg", REFUSED, ids=REFUSED_IDS)
def test_bad_input_is_refused_before_the_embedder_loads(tmp_path, args, msg):
    """Was: the model and the index loaded first (17-42 s with the real model) and only then the
    query was checked. The real model is configured here: loading it would import torch/onnxruntime."""
    import os
    import subprocess
    import sys
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env["ASSISTANT_INDEX_DIR"] = str(tmp_path / "index")  # empty: building it would take long
    root = str(Path(__file__).resolve().parent.parent)  # this checkout's assistant, not an installed one
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    probe = ("import sys\nfrom assistant.cli import main\nrc = main(sys.argv[1:])\n"
             "heavy = [m for m in ('torch', 'onnxruntime', 'sentence_transformers', 'faiss', 'jieba') if m in sys.modules]\n"
             "print('heavy:', heavy, file=sys.stderr)\nsys.exit(rc)\n")
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=60)
    took = time.perf_counter() - t
    assert done.returncode == 2, done.stderr
    assert msg in done.stderr and "Traceback" not in done.stderr
    assert "heavy: []" in done.stderr
    assert took < 5, f"{took:.1f} s"
    assert not (tmp_path / "index").exists()


def test_filter_matching_nothing_and_unknown_source(env, capsys):
    # was: the corpus-has-no-answer message for both
    assert main(["build"]) == 0
    assert main(["search", "安全生产", "--source", "b.txt", "--date-from", "2024-01-01"]) == 0
    out = capsys.readouterr().out
    assert "筛选条件没有匹配的讲话" in out and "语料中没有找到" not in out
    assert main(["search", "安全生产", "--json", "--date-from", "2030-01-01"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["outcome"] == "no_match" and res["hits"] == []
    assert main(["search", "安全生产", "--source", "nope.txt"]) == 2
    assert "索引中没有来源文件 'nope.txt'；可选：a.txt、b.txt、c.txt" in capsys.readouterr().err
