"""Follow-up detection and rewriting (assistant.conversation) with the real jieba tokenizer."""
import pytest

from assistant.conversation import carried_terms, is_follow_up, rewrite_followup
from assistant.tokenize import Tokenizer


@pytest.fixture(scope="module")
def tok():
    return Tokenizer()


@pytest.mark.parametrize("question", [
    "那具体有哪些形式？", "那么资金从哪里来", "这些工作由谁负责", "其中农村部分怎么安排",
    "上述措施的效果如何", "还有哪些要求", "具体怎么落实", "信访工作呢？", "比如说呢",
])
def test_follow_ups(question):
    assert is_follow_up(question)


@pytest.mark.parametrize("question", [
    "乡镇人大监督怎么做", "如何做好信访稳定工作", "再就业政策", "6.25亿元", "", "   ",
    "安全生产责任制有哪些内容",
])
def test_standalone_questions(question):
    assert not is_follow_up(question)


def test_rewrite_prepends_the_previous_key_terms(tok):
    assert rewrite_followup("那具体有哪些形式？", "乡镇人大监督怎么做", tok) == "乡镇人大 监督 那具体有哪些形式？"
    assert rewrite_followup("这些工作由谁负责呢？", "如何做好信访稳定工作", tok) == "做好 信访稳定 这些工作由谁负责呢？"
    assert rewrite_followup("  还有呢 ", "安全生产", tok) == "安全生产 还有呢"


def test_rewrite_leaves_other_questions_alone(tok):
    assert rewrite_followup("如何做好信访稳定工作", "乡镇人大监督怎么做", tok) == "如何做好信访稳定工作"
    assert rewrite_followup("那具体有哪些形式？", None, tok) == "那具体有哪些形式？"
    assert rewrite_followup("那具体有哪些形式？", "", tok) == "那具体有哪些形式？"
    assert rewrite_followup("  ", "乡镇人大监督怎么做", tok) == ""
    assert rewrite_followup(None, "乡镇人大监督怎么做", tok) == ""


def test_terms_already_in_the_follow_up_are_not_repeated(tok):
    # "监督" is asked again, so only "乡镇人大" is carried; "乡镇" and "人大" are inside it
    assert carried_terms("乡镇人大监督怎么做", "那监督有哪些形式", tok) == ["乡镇人大"]
    assert rewrite_followup("那监督有哪些形式", "乡镇人大监督怎么做", tok) == "乡镇人大 那监督有哪些形式"
    # nothing left to carry: the question comes back as it was
    assert rewrite_followup("那乡镇人大监督呢", "乡镇人大监督", tok) == "那乡镇人大监督呢"


def test_chained_follow_ups_keep_the_topic(tok):
    first = rewrite_followup("那具体有哪些形式？", "乡镇人大监督怎么做", tok)
    second = rewrite_followup("其中代表视察怎么组织", first, tok)
    assert second.startswith("乡镇人大 监督") and second.endswith("其中代表视察怎么组织")


def test_any_term_source_works():
    class Words:
        def content_terms(self, text):
            return text.split()

    assert rewrite_followup("那呢", "alpha beta", Words()) == "alpha beta 那呢"
