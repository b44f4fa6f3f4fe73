"""Template grouping and the abstention rule, on small hand-made inputs."""
import numpy as np

from assistant.abstain import Evidence, calibrate, dense_z, support, tau_dense
from assistant.dedupe import jaccard, shingles, template_groups


def test_template_groups_join_near_copies_only():
    a = list("多年来我县乡镇人大在各级党委的正确领导下认真履行宪法和法律赋予的各项职责")
    b = a[:-2] + ["职", "权"]          # one word changed: same template
    c = list("秸秆综合利用要加快推进确保农作物秸秆综合利用率达到八成以上")
    g = template_groups([a, b, c, a[:5]], threshold=0.8)
    assert g[0] == g[1] == 0
    assert g[2] == 2 and g[3] == 3


def test_shingles_and_jaccard():
    assert shingles(["甲", "乙"]) == {"甲\u0001乙"}
    assert jaccard(shingles(list("abcdef")), shingles(list("abcdef"))) == 1.0
    assert jaccard(set(), {"x"}) == 0.0


def test_dense_z_against_the_query_distribution():
    cos = np.array([0.80, 0.81, 0.80, 0.82, 0.95], dtype=np.float32)
    top, z = dense_z(cos)
    assert top == np.float32(0.95) and z > 1.9
    _, z_masked = dense_z(cos, np.array([1, 1, 1, 1, 0], bool))
    assert z_masked < z


def test_support_needs_either_ranker():
    weak = Evidence(dense_top=0.86, dense_z=2.5, coverage=0.1, n_terms=4)
    dense_only = Evidence(dense_top=0.9, dense_z=4.5, coverage=0.1, n_terms=4)
    lexical_only = Evidence(dense_top=0.86, dense_z=2.5, coverage=0.6, n_terms=4)
    assert support(weak, 3.4, 0.3) < 1.0
    assert support(dense_only, 3.4, 0.3) >= 1.0
    assert support(lexical_only, 3.4, 0.3) >= 1.0


def test_tau_from_null_samples():
    cal = {"null_samples": list(np.linspace(2.0, 4.0, 101)), "tau_dense": 9.9}
    assert abs(tau_dense(cal, 0.5) - 3.0) < 1e-6
    assert tau_dense({}, 0.8) == 3.4


def test_calibrate_on_tiny_corpus_falls_back(searcher):
    cal = calibrate(searcher.index, searcher.embedder.embed_queries)
    assert "tau_dense" in cal
