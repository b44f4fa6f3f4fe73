"""Integrity: every file of a build is checksummed; a flipped byte anywhere is refused with
the file's name and the rebuild command; damaged cache entries are recomputed, never used."""
import json

import numpy as np
import pytest

from assistant.build import build, embed_passages_cached
from assistant.cache import JsonCache, VectorCache
from assistant.errors import IndexError_
from assistant.index import load


def _flip(path, at=None):
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if at is None else at
    data[i] ^= 0x01
    path.write_bytes(bytes(data))


def test_every_build_file_is_recorded(settings, fake):
    build(settings, fake, progress=False)
    base = settings.index.index_dir / "current"
    m = json.loads((base / "manifest.json").read_text())
    on_disk = {p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(m["build_files"]) == on_disk and len(on_disk) >= 10
    assert all(len(v["blake2b"]) == 32 and v["size"] == (base / k).stat().st_size for k, v in m["build_files"].items())


def test_one_flipped_byte_in_any_file_is_refused(settings, fake):
    build(settings, fake, progress=False)
    base = settings.index.index_dir / "current"
    names = json.loads((base / "manifest.json").read_text())["build_files"]
    for name in names:
        original = (base / name).read_bytes()
        _flip(base / name)
        with pytest.raises(IndexError_, match=rf"{name}.*damaged.*build --force"):
            load(settings, fake)
        (base / name).write_bytes(original)
    load(settings, fake)  # restored: loads again


def test_a_changed_digit_in_the_manifest_is_refused(settings, fake):
    build(settings, fake, progress=False)
    path = settings.index.index_dir / "current" / "manifest.json"
    m = json.loads(path.read_text())
    m["counts"]["passages"] -= 1
    path.write_text(json.dumps(m))
    with pytest.raises(IndexError_, match="manifest.*damaged.*build --force"):
        load(settings, fake)


def test_damaged_vector_cache_is_recomputed(settings, fake, tmp_path):
    texts = ["人大监督要依法进行。", "安全生产责任重于泰山。"]
    path = tmp_path / "v.npz"
    first = VectorCache(path).get_many(texts, lambda b: fake.embed_passages(b), fake.dim)
    _flip(path, at=path.stat().st_size - 200)  # inside the vectors
    calls = fake.calls
    again = VectorCache(path).get_many(texts, lambda b: fake.embed_passages(b), fake.dim)
    assert fake.calls > calls  # recomputed, not read back damaged
    assert np.array_equal(first, again)


def test_damaged_json_cache_entry_is_recomputed(tmp_path):
    path = tmp_path / "c.json"
    cache = JsonCache(path)
    cache.get_many(["k1", "k2"], lambda pos: [[1, 2, 3], [4, 5, 6]])
    cache.save()
    raw = path.read_text().replace("[4, 5, 6]", "[4, 5, 7]")  # still valid JSON, a wrong value
    assert raw != path.read_text()
    path.write_text(raw)
    computed = []
    again = JsonCache(path).get_many(["k1", "k2"], lambda pos: computed.extend(pos) or [[4, 5, 6]] * len(pos))
    assert computed == [1] and again == [[1, 2, 3], [4, 5, 6]]


def test_build_after_damaged_cache_equals_clean_build(settings, fake, tmp_path):
    clean = build(settings, fake, progress=False)
    for p in (settings.index.index_dir / "cache").iterdir():
        _flip(p)
    rebuilt = build(settings, fake, progress=False)
    assert [p.to_dict() for p in rebuilt.passages] == [p.to_dict() for p in clean.passages]
    ids = np.arange(len(clean))
    assert np.array_equal(rebuilt.dense.vectors(ids), clean.dense.vectors(ids))


def test_the_app_swaps_to_a_new_build_and_skips_a_damaged_one(settings, fake):
    from assistant.service import QueryService

    first = build(settings, fake, progress=False)
    svc = QueryService(settings, fake, load(settings, fake))
    assert svc.reload() is False  # already serving the current build
    second = build(settings, fake, progress=False)  # as the CLI in another process would
    assert svc.reload() is True and svc.index.version == second.version != first.version
    assert svc.search("人大监督").index_version == second.version
    third = build(settings, fake, progress=False)
    _flip(third.path / "passages.jsonl")
    assert svc.reload() is False and svc.index.version == second.version  # the damaged one is not served
    assert svc.search("人大监督").hits
