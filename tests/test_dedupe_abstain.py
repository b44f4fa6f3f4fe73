"""Template grouping and the abstention rule, on small hand-made inputs."""
import numpy as np

from assistant.calibrate import calibrate, dense_z, thresholds
from assistant.search.judge import Evidence, absent_terms, focus, support
from assistant.settings import AbstentionSettings
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
    top, z = dense_z(cos, np.arange(5))
    assert top == np.float32(0.95) and z > 1.9
    _, z_masked = dense_z(cos, np.arange(4), np.array([1, 1, 1, 1, 0], bool))
    assert z_masked < z


def test_each_test_passes_on_either_ranker():
    # thresholds: z 3.4 / coverage 0.15 (distinctive), cosine 0.87 / coverage 0.6 (in domain)
    def s(top, z, cov):
        return support(Evidence(dense_top=top, dense_z=z, coverage=cov, n_terms=4), 3.4, 0.87,
                       AbstentionSettings(coverage=0.15, domain_coverage=0.6))

    assert s(0.90, 4.5, 0.05) >= 1.0      # paraphrase: dense is confident, no shared words
    assert s(0.80, 2.5, 1.0) >= 1.0       # exact figure: dense weak, every word found
    assert s(0.90, 2.5, 0.10) < 1.0       # in domain but nothing stands out, hardly a word found
    assert s(0.85, 4.5, 0.40) < 1.0       # out of domain, some generic words found
    assert s(0.85, 4.5, 0.70) >= 1.0      # ... unless most of the query's words are there


def test_thresholds_from_null_samples():
    cal = {"null_samples": list(np.linspace(2.0, 4.0, 101)), "tau_dense": 9.9,
           "null_top_samples": list(np.linspace(0.8, 0.9, 101))}
    tz, tt = thresholds(cal, AbstentionSettings(null_quantile=0.5, domain_quantile=0.1))
    assert abs(tz - 3.0) < 1e-6 and abs(tt - 0.81) < 1e-6
    assert thresholds({}, AbstentionSettings()) == (3.4, 0.0)  # uncalibrated: the domain test is off


def test_calibrate_on_tiny_corpus_falls_back(searcher):
    cal = calibrate(searcher.index, searcher.embedder.embed_queries, searcher.settings.abstention)
    assert "tau_dense" in cal


# a toy embedding: each concept is one axis; "截瘫" and "脊髓损伤" name the same concept,
# fillers weigh little
_AXES = {"人大": 0, "代表": 1, "罢免": 2, "选举": 3, "截瘫": 4, "脊髓损伤": 4, "康复": 5, "平时": 6}
_WEIGHT = {"平时": 0.1}


def _toy_embed(texts):
    out = np.zeros((len(texts), 7), np.float32)
    for r, t in enumerate(texts):
        for w, axis in _AXES.items():
            if w in t:
                out[r, axis] += _WEIGHT.get(w, 1.0)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_absent_terms_keep_the_longest_form():
    texts = ["人大代表的选举程序", "代表资格"]
    assert absent_terms(["罢免", "人大代表", "人大", "执法记录仪", "记录仪", "记录"], texts) == ["罢免", "执法记录仪"]
    assert absent_terms(["人大"], texts) == []
    assert len(absent_terms([f"词{i}" for i in range(30)], texts, limit=5)) == 5


def test_focus_flags_an_important_word_the_passages_do_not_echo():
    q = "罢免人大代表平时怎么做"
    pool = _toy_embed(["人大代表选举"])
    ratio, word = focus(q, _toy_embed([q])[0], ["罢免", "平时"], lambda v: pool @ v.T, _toy_embed, min_importance=0.015)
    assert word == "罢免" and ratio < 0          # the passage matches better without "罢免"
    # the filler alone is too unimportant to count
    assert focus(q, _toy_embed([q])[0], ["平时"], lambda v: pool @ v.T, _toy_embed, 0.015) == (1.0, "")


def test_focus_passes_a_paraphrase_whose_answer_echoes_the_word():
    q = "截瘫怎么康复"
    pool = _toy_embed(["脊髓损伤康复"])
    ratio, word = focus(q, _toy_embed([q])[0], ["截瘫"], lambda v: pool @ v.T, _toy_embed, 0.015)
    assert word == "截瘫" and ratio > 0.5
    assert focus(q, _toy_embed([q])[0], [], lambda v: pool @ v.T, _toy_embed, 0.015) == (1.0, "")


def test_focus_reuses_the_query_vector_of_a_batch_invariant_encoder():
    q = "罢免人大代表平时怎么做"
    pool = _toy_embed(["人大代表选举"])
    batches = []

    def counting(texts):
        batches.append(list(texts))
        return _toy_embed(texts)

    again = focus(q, _toy_embed([q])[0], ["罢免", "平时"], lambda v: pool @ v.T, counting, 0.015)
    reused = focus(q, _toy_embed([q])[0], ["罢免", "平时"], lambda v: pool @ v.T, counting, 0.015, reuse_query=True)
    assert reused == again
    assert batches == [[q, "人大代表平时怎么做", "罢免人大代表怎么做"], ["人大代表平时怎么做", "罢免人大代表怎么做"]]


def test_support_abstains_on_an_unfocused_match():
    def s(f, bar=-0.12):
        return support(Evidence(dense_top=0.9, dense_z=4.5, coverage=0.7, n_terms=4, focus=f), 3.4, 0.87,
                       AbstentionSettings(coverage=0.15, domain_coverage=0.6, focus_ratio=bar))

    assert s(1.0) >= 1.0 and s(0.3) >= 1.0 and s(-0.05) >= 1.0
    assert s(-0.2) < 1.0 and s(-1.5) < 1.0
    assert s(0.0, bar=0.05) < 1.0
