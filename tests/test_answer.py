"""Answers above the cards: the extractive answer, the citation check, LLM answers through a
fake OpenAI-compatible server (good, bad marker, no markers, invented quote, no-info, server
down, timeout, non-streaming), and the answer-type judge."""
import json

import pytest

from assistant.answer.check import check, containment, split_cited
from assistant.build import build
from assistant.cli import main
from assistant.search.answer_type import asked, gives
from assistant.service import QueryService
from assistant.tokenize import Tokenizer
from assistant.types import AnswerKind, Citation, Hit, Passage
from assistant.web import handlers as H

from tests import fake_llm


@pytest.fixture
def service(settings, fake):
    return QueryService(settings, fake, build(settings, fake, progress=False))


@pytest.fixture(scope="module")
def llm_server():
    server, url = fake_llm.start()
    yield server, url
    server.shutdown()


def llm_service(service, url, model, **extra):
    s = service.settings.replace(llm_backend="openai", llm_url=url, llm_model=model, llm_timeout=1.0, **extra)
    return QueryService(s, service.embedder, service.index)


# --- extractive -------------------------------------------------------------------------------

@pytest.mark.parametrize("q", ["人大监督要采取哪些形式", "信访稳定工作怎么做", "乡镇人大工作人员怎么配备", "秸秆综合利用"])
def test_extractive_sentences_are_verbatim_and_cite_their_card(service, q):
    reply = service.ask(q)
    a = reply.answer
    assert a is not None and a.kind == AnswerKind.EXTRACTIVE and a.sentences
    assert len(a.sentences) <= service.settings.answer.answer_sentences
    for s in a.sentences:
        hit = reply.result.hits[s.ref - 1]
        assert hit.passage.id == s.passage_id
        assert hit.passage.text[s.start:s.start + len(s.text)] == s.text  # character for character
    assert a.text == "".join(f"{s.text}[{s.ref}]" for s in a.sentences)
    assert a.seconds < 0.1


def test_extractive_answer_follows_the_speech_order(service):
    a = service.ask("乡镇人大监督和代表工作").answer
    keys = [(service.index.passages[service.index.position(s.passage_id)].doc_id,
             service.index.passages[service.index.position(s.passage_id)].position, s.start) for s in a.sentences]
    by_doc = {}
    for doc, pos, start in keys:
        by_doc.setdefault(doc, []).append((pos, start))
    assert all(v == sorted(v) for v in by_doc.values())  # reading order inside one speech


def test_no_answer_when_retrieval_abstains(service):
    s = QueryService(service.settings.replace(abstention={"enabled": True}), service.embedder, service.index)
    reply = s.ask("火星探测计划的燃料加注流程")
    assert reply.result.abstained and reply.answer is None


# --- the citation check -------------------------------------------------------------------------

def _hits(*texts):
    return [Hit(Passage(id=f"d:{n}", doc_id="d", text=t, citation=Citation(title="讲话", source="d.txt", paragraph=n),
                        position=n), score=1.0) for n, t in enumerate(texts, start=1)]


def test_split_cited_attaches_markers_to_their_sentence():
    assert split_cited("监督形式有执法检查[1]。还有述职评议。[2][3]\n资料中没有相关信息。") == [
        ("监督形式有执法检查。", [1]), ("还有述职评议。", [2, 3]), ("资料中没有相关信息。", [])]
    assert split_cited("一是A；二是B[1, 2]。【3】") == [("一是A；", []), ("二是B。", [1, 2, 3])]


def test_check_flags_bad_missing_unsupported_and_quotes():
    hits = _hits("乡镇人大要通过执法检查、视察、听取报告和述职评议等形式加强监督。", "信访工作要早发现、早处理。")
    out = check("乡镇人大通过执法检查和视察加强监督[1]。信访要早发现早处理[7]。要大力发展旅游业。"
                "讲话说「全力以赴抓招商」[1]。资料中没有相关信息。", hits, 0.5)
    assert [s.flags for s in out] == [[], ["bad_citation", "no_citation"], ["no_citation"],
                                      ["unsupported", "quote_not_found"], []]
    assert out[0].supported and out[0].support >= 0.5 and out[0].passage_id == "d:1"
    assert containment("完全无关的句子内容", hits[0].passage.text) < 0.2


# --- LLM answers through a fake OpenAI-compatible server -----------------------------------------

Q = "人大监督要采取哪些形式"


def test_llm_good_answer_is_checked_and_shown(service, llm_server):
    server, url = llm_server
    svc = llm_service(service, url, "good")
    drafts = []
    for reply in svc.ask_stream(Q, answer="llm"):  # the same Reply, updated as the answer streams
        drafts.append(reply.draft)
    assert len([d for d in drafts if d]) >= 2 and drafts[-1] == ""  # it streamed, then the checked answer
    a = reply.answer
    assert a.kind == AnswerKind.LLM and a.supported_share == 1.0 and not a.note
    assert a.sentences[0].ref == 1 and a.sentences[0].text in reply.result.hits[0].passage.text
    assert a.first_token_seconds is not None
    sent = server.requests[-1]
    assert sent["stream"] is True and "[1] 出处：" in sent["messages"][-1]["content"]


@pytest.mark.parametrize("model, flag", [("badref", "bad_citation"), ("nomarks", "no_citation"),
                                         ("quote", "quote_not_found")])
def test_llm_bad_answers_fall_back_to_extractive_with_the_reason(service, llm_server, model, flag):
    a = llm_service(service, llm_server[1], model).ask(Q, answer="llm").answer
    assert a.kind == AnswerKind.EXTRACTIVE and "改为显示摘录回答" in a.note and a.raw
    assert all(s.supported for s in a.sentences)


def test_llm_flags_survive_when_most_of_the_answer_holds(service, llm_server):
    # one good sentence and one without a marker: half supported is enough to show it, flagged
    svc = llm_service(service, llm_server[1], "half", fallback_share=0.5)
    a = svc.ask(Q, answer="llm").answer
    assert a.kind == AnswerKind.LLM and [s.supported for s in a.sentences] == [True, False]
    assert a.sentences[1].flags == ["no_citation"]
    html = "".join(x[0][-1]["content"] for x in H.ask(svc, Q, [], None, "llm", 3, "hybrid", [], [], [], "", ""))
    assert 'class="flagged"' in html and "没有标注出处" in html and 'class="cite"' in html


def test_llm_no_info(service, llm_server):
    a = llm_service(service, llm_server[1], "noinfo").ask(Q, answer="llm").answer
    assert a.no_answer and a.kind == AnswerKind.LLM and "不能回答" in a.note


def test_llm_non_streaming_server(service, llm_server):
    a = llm_service(service, llm_server[1], "plain").ask(Q, answer="llm").answer
    assert a.kind == AnswerKind.LLM and a.supported_share == 1.0


@pytest.mark.parametrize("model, url, needle", [("slow", None, "超时"), ("good", "http://127.0.0.1:9/v1", "无法连接")])
def test_llm_down_or_slow_gives_the_extractive_answer_and_says_why(service, llm_server, model, url, needle):
    a = llm_service(service, url or llm_server[1], model).ask(Q, answer="llm").answer
    assert a.kind == AnswerKind.EXTRACTIVE and needle in a.note and a.sentences


def test_llm_asked_for_but_not_configured(service):
    a = service.ask(Q, answer="llm").answer
    assert a.kind == AnswerKind.EXTRACTIVE and "llm_backend" in a.note


def test_cli_ask_with_and_without_llm(settings, llm_server, monkeypatch, capsys, tmp_path):
    for k, v in {"MODEL": "fake", "CORPUS_DIR": settings.index.corpus_dir, "INDEX_DIR": settings.index.index_dir,
                 "SHORT_PARAGRAPH_CHARS": "12", "LLM_BACKEND": "openai", "LLM_URL": llm_server[1],
                 "LLM_MODEL": "good"}.items():
        monkeypatch.setenv(f"ASSISTANT_{k}", str(v))
    assert main(["build"]) == 0
    capsys.readouterr()
    assert main(["ask", Q, "--llm", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["answer"]["kind"] == "llm" and out["answer"]["sentences"][0]["passage_id"] == out["hits"][0]["id"]
    assert main(["ask", Q]) == 0
    text = capsys.readouterr().out
    assert text.startswith("摘录回答：") and "[1] 《" in text
    monkeypatch.setenv("ASSISTANT_LLM_MODEL", "badref")
    assert main(["ask", Q, "--llm"]) == 0
    assert "改为显示摘录回答" in capsys.readouterr().out


# --- the answer-type judge ------------------------------------------------------------------------

@pytest.mark.parametrize("q, kinds", [
    ("秸秆打捆离田每亩给多少补贴", ["money"]), ("要配几个专门干事", ["count"]), ("主席团多久开一次会", ["time"]),
    ("选举定在哪一天", ["time"]), ("监督电话是多少", ["count", "contact"]), ("残疾证在哪里办理", ["where"]),
    ("残疾证怎么办理", ["procedure"]), ("排查了多少处隐患", ["count"]),
    ("人大监督怎么做", []), ("为何时好时坏", []), ("群众办证要跑好几个领导", []), ("村村通修好没几年路就坏了", []),
    ("乡里人大这几年暴露出哪些短板", []), ("近几天的工作", []), ("污水厂每天能处理多少吨污水", ["count"]),
    ("今年发生了几起安全事故", ["count"]), ("主席团开会至少要多少成员到场", ["count"]),
    ("那两家造纸厂叫什么名字", ["name"]), ("服务中心设在哪个社区", ["name"]), ("专项整治清理哪三样", ["list"]),
    ("党员要在哪几方面做榜样", []), ("在哪些方面还有差距", []), ("哪个区域的问题多", []),
    ("目标定在哪一年", ["time"]), ("在全县排第几名", ["rank"]), ("综合名次怎么样", []),
    ("参保率要提高到百分之几", ["count"]), ("冒领的要退赔几倍", ["count"]), ("那条路修多长", ["count"]),
    ("总投资多少、修多长", ["money", "count"]), ("要满足什么条件才能入住", ["condition"]),
    ("一河两岸项目总投资是多少", ["money"]), ("今年单独完成了多少投资", ["money"]), ("第三产业占比多少", ["count"]),
    ("保费的政府补贴比例是多少", ["count"]), ("那5家分别是哪几家", ["name"]), ("那九条路分别叫什么名字", ["name"]),
    ("镇上那几家骨干企业是哪些", []),
    ("违反规定的干部会受到什么处分", ["penalty"]), ("低保申请有异议怎么处理", []),
    ("支队长是谁", ["name"]), ("领导小组的组长由谁担任", ["name"]), ("巡视组由哪位领导带队", ["name"]),
    ("人身安全谁来负责", []), ("代表搞活动的钱由谁出", []),
])
def test_question_kinds(q, kinds):
    assert [k.name for k in asked(q)] == kinds


@pytest.mark.parametrize("q, sentence, ok", [
    ("污水厂每天能处理多少吨污水", "日处理污水3万吨。", True),
    ("污水厂每天能处理多少吨污水", "总投资3000万元，占地50亩。", False),  # figures, but not tons
    ("这次表彰了多少名优秀党员", "表彰优秀共产党员56人。", True),      # 名 and 人 count people alike
    ("这次表彰了多少名优秀党员", "建成示范点12个。", False),
    ("去年一共卖了多少度电", "售电量完成1.2亿千瓦时。", True),
    ("排查了几户", "排查农户320家。", True),
    ("要配几个专门干事", "配备专职干事3名。", True),             # 个 names no unit: any count
    ("危房改造每户补助多少钱", "完成危房改造12户，共投入资金36万元。", False),  # a total, not per household
    ("危房改造每户补助多少钱", "对改造户每户补助3000元。", True),
    ("危房改造每户补助多少钱", "补助标准为2万元/户。", True),
    ("农民每人一年挣多少钱", "农民人均纯收入达到5612元。", True),
    ("危房改造补助多少钱", "共投入资金36万元。", True),           # no 每: any amount
    ("暂扣的货物要在几天内退还", "2019年5月开展专项整治。", False),   # a date is not a span
    ("暂扣的货物要在几天内退还", "应在15个工作日内退还。", True),
    ("被判了多少年", "判处有期徒刑三年。", True),
    ("主席团隔多久碰一次头", "主席团每季度召开一次会议。", True),      # how often: a frequency answers
    ("服务中心每天几点上班", "服务中心每天开放。", False),
    ("服务中心每天几点上班", "上午8:30至12:00办公。", True),
    ("中药材加工户有多少户", "主要集中在四个村,总计380来户。", True),   # 380来户: about 380
    ("今年发生了几起安全事故", "全年未发生重大安全事故。", False),
    ("今年发生了几起安全事故", "共发生安全事故3起。", True),
    ("县里定下的重点任务有几件", "确定了10项全县重点工作。", True),     # 件 and 项 count tasks alike
    ("低保资金中央财政承担几成", "中央财政承担大部分资金。", False),
    ("低保资金中央财政承担几成", "中央财政承担70%。", True),
    ("至少要多少成员到场", "主席团成员应当到会。", False),
    ("至少要多少成员到场", "须有三分之二以上成员12人到会。", True),
    ("要扣多少考核分", "纳入年度考核。", False),
    ("要扣多少考核分", "每处火点扣考核分5分。", True),
    ("换届选举定在哪一天投票", "2014年底换届工作在即。", False),      # a year is not a day
    ("换届选举定在哪一天投票", "定于12月10日投票选举。", True),
    ("接访定在哪一天", "把赶集日定为接访日。", True),
    ("全市260家养猪场有多少家达标", "全市260家规模养猪场要全面整治。", False),  # the question's own figure
    ("全市260家养猪场有多少家达标", "已有180家达标。", True),
    ("主城区要扩到多少平方公里、多少人", "建成区面积达到200平方公里以上。", True),  # either unit asked
    ("工业产值在全市排第几", "工业产值排名靠前。", False),
    ("这个工程在全国排第几个", "是第三个国家级创新工程。", True),
    ("参保率要提高到百分之几", "参保率要进一步提高。", False),
    ("参保率要提高到百分之几", "参保率达到95%以上。", True),
    ("参保率要提高到百分之几", "新增参保300人。", False),               # a figure, not a share
    ("冒领的要退赔几倍", "责令退赔3倍。", True),
    ("那条路修多长", "总投资120万元。", False),
    ("那条路修多长", "全长3.5公里。", True),
    ("经济区规划面积有多大", "规划建设10个项目。", False),
    ("经济区规划面积有多大", "规划面积12平方公里。", True),
    ("要满足什么条件才能入住", "安置失地农民1500余人。", False),
    ("要满足什么条件才能入住", "凡户籍在本镇的失地农民均可申请。", True),
    ("要满足什么条件才能入住", "符合条件的农户优先安置。", True),
    ("违反规定的干部会受到什么处分", "要认真执行三重一大制度。", False),
    ("违反规定的干部会受到什么处分", "对违反规定的一律给予党纪处分。", True),
    ("全乡参选率达到多少", "全乡共有选民3000人。", False),            # a share is asked, not a head count
    ("全乡参选率达到多少", "参选率达95.6%。", True),
    ("群众满意率有多高", "群众满意率达到98%。", True),                # 多高 of a rate is not a height
    ("中药材加工业一年的产值有多少", "加工户总计380来户。", False),     # a sum of money is asked
    ("中药材加工业一年的产值有多少", "完成产值3.96亿元。", True),
    ("工业产值任务是多少", "全年9个亿的工业产值任务。", True),
    ("今年遭了几轮低温冻灾", "先后连续四次遭遇低温冰冻灾害。", True),    # 轮 and 次 count times alike
    ("山亚车站计划什么时候完工", "最起码五十年不落后。", False),       # a span is not a date
    ("山亚车站计划什么时候完工", "力争年底前完工。", True),
    ("山亚车站计划什么时候完工", "2019年10月开工建设。", True),
    ("是哪一年开始创办的", "20xx年开始创办。", False),                # the year is masked in the source
    ("宣传月安排在几月份", "部署今年春季绿化工作。", False),           # a season is not a month
    ("宣传月安排在几月份", "每年5月开展宣传月活动。", True),
    ("讨论已经搞了多长时间", "大讨论活动已经开展一个多月了。", True),
    ("罢免代表要经过哪些程序", "建立了代表学习、视察、评议和建议办理等制度。", False),  # names acts, no steps
    ("罢免代表要经过哪些程序", "要依法按程序办事。", False),
    ("罢免代表要经过哪些程序", "经原选区选民过半数通过，报县人大常委会备案。", True),
    ("罢免代表要经过哪些程序", "村民评议的结果要张榜公示。", True),            # two acts of one procedure
    ("教育局砍掉了哪些证明材料", "取消无犯罪记录、思想品德鉴定表等证明。", True),
    ("教育局砍掉了哪些证明材料", "精简了办事程序。", False),
    ("教育局砍掉了哪些证明材料", "镇人大代表、党委书记参加了会议。", False),   # 代表、书记 name no paper
])
def test_the_value_must_be_of_the_kind_asked(q, sentence, ok):
    (kind,) = asked(q)
    assert gives(kind, q, TOKENIZER)(sentence) is ok


TOKENIZER = Tokenizer()


@pytest.mark.parametrize("q, sentence, ok", [
    ("那两家造纸厂叫什么名字", "关停2家造纸企业。", False),
    ("那两家造纸厂叫什么名字", "关停了红星造纸厂和东风造纸厂。", True),
    ("示范村是哪个村", "确定了示范村和重点村。", False),              # 示范, 重点: common words, not names
    ("示范村是哪个村", "渌渚村被列为示范村。", True),                 # 渌 渚: a name jieba cuts into characters
    ("示范村是哪个村", "新联村被列为示范村。", True),
    ("服务中心设在哪个社区", "成立了“失地农民服务中心”。", False),     # quoted, but not a 社区
    ("服务中心设在哪个社区", "服务中心设在“江南社区”。", True),
    ("辅导报告的题目叫什么", "毛春智同志作了辅导报告。", False),
    ("辅导报告的题目叫什么", "作了题为《加强乡镇人大建设》的辅导报告。", True),
    ("韩书记的全名叫什么", "韩书记在全市大会上讲话。", False),
    ("组长的全名叫什么", "由罗勇军同志任组长。", True),
    ("专项整治清理哪三样", "开展“三清理一规范”专项整治。", False),
    ("专项整治清理哪三样", "清理违规建房、清理乱堆乱放、清理占道经营。", True),
    ("明年要干哪两件事", "做好污水处理厂建设和河道清障工作。", True),
    ("跟哪几个省合作", "与浙江省残联密切合作。", True),             # 浙江: common, but a place jieba knows
    ("在哪个区推行", "在城市区域推行。", False),
    ("支队长是谁", "支队要加强队伍建设。", False),
    ("支队长是谁", "由王建国支队长主持工作。", True),
    ("巡视组由哪位领导带队", "局里首次成立巡视组。", False),
    ("巡视组由哪位领导带队", "由李明副局长带队检查。", True),
    ("哪家公司签了入园合同", "深圳市金和能电池有限公司签订入园合同。", True),  # the name two words before
    ("哪家公司签了入园合同", "多家公司签订了入园合同。", False),
    ("亏损的那5家分别是哪几家", "9家规模企业中有5家亏损。", False),
    ("亏损的那5家分别是哪几家", "红星造纸厂、东风水泥厂出现亏损。", True),
])
def test_names_and_lists_must_be_given(q, sentence, ok):
    (kind,) = asked(q)
    assert gives(kind, q, TOKENIZER)(sentence) is ok


def test_a_question_asking_two_things_is_answered_by_either(service):
    s = QueryService(service.settings.replace(abstention={"enabled": True, "coverage": 0.0, "domain_coverage": 0.0}),
                     service.embedder, service.index)
    no = s.search("安全生产隐患都出在哪几个村")  # no village is named
    assert no.abstained and no.evidence["missing"] == ["name"]
    both = s.search("安全生产隐患排查了多少处，都出在哪几个村")
    assert not both.abstained and both.evidence["asks"] == ["count", "name"]


def test_answer_type_judge_abstains_without_the_value(service):
    s = QueryService(service.settings.replace(abstention={"enabled": True, "coverage": 0.0, "domain_coverage": 0.0}),
                     service.embedder, service.index)
    ok = s.search("安全生产隐患排查了多少处")  # 128处 stands in the passage
    assert not ok.abstained and ok.evidence["asks"] == ["count"]
    no = s.search("安全生产隐患整改的截止期限是什么时候")
    assert no.abstained and "具体时间或期限" in no.reason and no.evidence["missing"] == ["time"]
    off = QueryService(s.settings.replace(answer_type=False), service.embedder, service.index)
    assert not off.search("安全生产隐患整改的截止期限是什么时候").abstained
