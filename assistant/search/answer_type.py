"""The answer-type judge: a question that asks for a specific kind of value — an amount, a
count, a share, a length, a date or duration, a phone number, a place, a procedure, the
conditions for something, a sanction, a name — is answered only when the passages found
state one.

Near-topic questions about an absent detail ("秸秆打捆离田每亩给多少补贴" when the speeches
praise straw use but never state a subsidy) pass the other tests on their topic words;
what gives them away is that no sentence close to the question carries the kind of value
asked for. The question's kind is read from its wording (多少钱, 几起, 哪天, 电话, 在哪里,
怎么办理, 叫什么名字, 哪个村, 清理哪三样 …), the value's from the sentence's (a figure with the
unit asked, a day, a long digit string, a rare word before 村/厂/社区, a list …). A sentence
counts when it is among the ones closest to the question (the index's sentence vectors) or
holds one of the question's most specific words. Who-questions are not judged: almost every
passage names a body or a role; the holder of a named post is (支队长是谁, 组长由谁担任,
哪位领导带队, 全名: a person's name before a role).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..index import Index
from ..settings import AbstentionSettings
from ..tokenize import Tokenizer, place_names
from .judge import NO_ANSWER
from .state import QueryState

# digits, or Chinese numerals that read as a quantity (not 一/二 alone: 一人一票, 二次创业)
_NUM = r"(?:\d+(?:[.,]\d+)?|[一二两三四五六七八九十][至到][一二两三四五六七八九十百千万]+|[两三四五六七八九十百千][一二两三四五六七八九十百千万]*|半)"


@dataclass(frozen=True)
class AnswerType:
    name: str
    label: str
    """How the abstention message names what the passages lack."""
    asks: re.Pattern
    gives: re.Pattern | None
    """What a sentence holding the value looks like (None: ``check`` decides)."""
    specific: bool = False
    """Only a sentence holding one of the question's most specific words counts, not merely
    a close one: money figures are everywhere in these reports (every result has its 万元),
    so a close sentence with an amount is usually about something else."""
    refine: Callable[[str], re.Pattern | None] | None = None
    """A narrower ``gives`` read from the question's wording (None: ``gives`` as it is)."""
    check: Callable[[str, Tokenizer], Callable[[str], bool]] | None = None
    """``check(question, tokenizer)`` reads the question once and returns whether a sentence
    gives the value, for a kind a pattern cannot tell (a name is a rare word, not a shape);
    replaces ``gives``."""


# A count question that names its unit (多少吨污水, 多少名党员, 几户) is answered by a figure
# in that unit, not by any figure: report paragraphs are full of figures about other things.
# 个 is too generic to tell anything; 几 after 哪/好/这/近/没 asks no number (哪几项, 好几处).
_UNITS = (r"名|人次|人|家|户|次|项|所|条|亩|度|票|周岁|岁|分|辆|台|套|处|座|平方公里|公里|吨|平方米|件|起|级|批|种|类|场|届|轮|"
          r"篇|份|张|例|宗|栋|间|层|头|只|棵|株|支|队|组|成(?![员本果绩效立为就])")
_ASKED_UNIT = re.compile(rf"(?:多少|(?<![哪那好这近没第])几)\s*({_UNITS})|多少[\u4e00-\u9fff]{{0,3}}(分)(?!钟|之|配|别|析|工|解|类)")
# 多少成员, 多少党员: people are counted in 名/人/位
_PEOPLE_ASKED = re.compile(r"多少(?:个|位|名)?(?:成员|人员|党员|干部|代表|群众|村民|居民|学生|教师|老师|农民|职工|工人|农户|志愿者)")
# How long, as against when: a duration is answered by a span (3个月, 15天, 两年), not by a
# date; 多久…一次 asks how often, which dates and frequencies (每季度) answer.
_DURATION_ASK = re.compile(r"多久|多长时间|多少天|多少个月|多少年|几周|几个星期|多少小时|几小时|"
                           r"(?<![没这那近哪好前后])几(?:天|个月|年(?!来))")
_HOW_OFTEN = r"一次|一回|一趟"
_WHEN_ASK = re.compile(rf"{_HOW_OFTEN}|什么时候|何时|哪年|哪一年|几月|哪个月|哪一?天|几号|截止|什么时间")
# a second time asked beside a day or a date (多久领一次, 期限): a span or a frequency answers too
_OTHER_TIME = re.compile(rf"多久|多长时间|期限|{_HOW_OFTEN}")
_DURATION = re.compile(r"(?<![\d.])(?:\d{1,3}(?:\.\d+)?|[一二两三四五六七八九十百半]+)\s*(?:多|余|来)?\s*"
                       r"(?:个[多半]?月|个?(?:天|周|星期|小时|分钟|工作日)|年(?!度|级|代))")
_CLOCK_ASK = re.compile(r"几点|什么时间段")
_CLOCK = re.compile(r"\d{1,2}\s*[:：]\s*\d{2}|(?:\d{1,2}|[一二三四五六七八九十]+)\s*[点时](?:半|\d|整|前|后|[至到—-])")
# an amount per unit: a report's totals (共投入500万元) do not say what one household gets
_PER = re.compile(r"每(?:个|位|名)?(户|人|亩|月|年|天|次|吨|头)")
_SAME_UNIT = {"名": "名|人|位", "人": "名|人|位", "家": "家|户", "户": "户|家", "周岁": "周岁|岁", "岁": "周岁|岁",
              "度": "度|千瓦时|kWh", "成": "成|%|％|百分之|个百分点", "件": "件|项", "项": "项|件", "人次": "人次|人",
              "轮": "轮|次|回", "次": "次|轮|回|趟",
              "米": "米|公里|千米|里", "平方米": "平方米|平方公里|㎡|亩|公顷|平方千米"}




def _money_per_unit(question: str) -> re.Pattern | None:
    """每户补助多少钱: an amount stated per something (每…X元, X元/户, 人均…X元)."""
    m = _PER.search(question)
    if m is None:
        return None
    money = r"(?:多|余|来)?\s*(?:元|万元|亿元|块)"
    return re.compile(rf"每[^，。；]{{0,8}}{_NUM}\s*{money}|{_NUM}\s*{money}\s*/\s*{m.group(1)}|"
                      rf"人均[^，。；]{{0,8}}{_NUM}\s*{money}")


# 百分之几, 几倍, 多长, 面积多大: the unit is in the question word itself
_UNIT_WORDS = ((re.compile(r"百分之(?:几|多少)|[多几]少?个?百分点"), "成"), (re.compile(r"(?:几|多少)倍"), "倍"),
               (re.compile(r"多长(?!时间)|多远|多宽|多高|多深"), "米"),
               (re.compile(r"面积[^，。？?]{0,4}多大|多大(?:的)?面积|多少面积"), "平方米"))
_UNIT_WORD_ASK = "|".join(pattern.pattern for pattern, _ in _UNIT_WORDS)
# 参选率达到多少, 满意率有多高, 占比多少, 多大比例: a share (58%, 六成), whatever else the
# question names (补贴比例 is a share, not an amount of money; 满意率多高 is not a height)
_RATE_ASK = re.compile(r"(?:比例|占比|比重|率)[^，。？?]{0,6}(?:多少|多高|多大|几成)|(?:多少|多大|多高)的?(?:比例|比重)")


def _count_in_unit(question: str) -> re.Pattern | None:
    """多少吨污水: a figure in the unit asked (or one counting the same things)."""
    units = [m.group(1) or m.group(2) for m in _ASKED_UNIT.finditer(question)]
    units += [u for pattern, u in _UNIT_WORDS if pattern.search(question)]
    units += ["成"] if _RATE_ASK.search(question) else []
    if not units and _PEOPLE_ASKED.search(question):
        units = ["人"]
    if not units:
        return None
    # 多少平方公里、多少人: a figure in either unit
    same = "|".join(dict.fromkeys(_SAME_UNIT.get(u, u) for u in units))
    return re.compile(rf"{_NUM}\s*(?:多|余|来)?\s*(?:亿|万|千|百)?\s*(?:{same})")


# which day (哪天投票, 几号开会): a day — 12月10日, 15号, 赶集日, 星期三 — not a year or a season
_DAY_ASK = re.compile(r"哪一?天|几号|几月几[日号]|哪个日子|什么日子")
_DAY = re.compile(r"\d{1,2}\s*[日号]|[一二三四五六七八九十]+[日号]|(?:集|访|假|念|作|节|每)日|星期[一二三四五六日天]|"
                  r"周[一二三四五六日](?![年期边])|当天|次日|当日")


# when (什么时候完工, 哪一年开的): a date — 2019年, 10月, 年底, 明年, 国庆前 — not a span (五十年不落后),
# a frequency or a masked year (the scraped speeches print 20xx年); 今年 dates nothing in a
# report that says it in every paragraph; which month (几月份): a month, not a season
_DATE_ASK = re.compile(r"什么时候|(?<!为)何时|哪年|哪一年|几月|哪个月|什么时间(?!段)")
_MONTH = re.compile(r"(?<![\dxX×])(?:\d{1,2}|[一二三四五六七八九十]{1,3})\s*月(?!份?以来)|年底|年初|年末|月底|月初|月末|"
                    r"春节|元旦|国庆")
_DATE = re.compile(_MONTH.pattern + r"|(?:\d{2,4}|[〇零一二三四五六七八九]{2,4})\s*年(?![来代级])|"
                   r"年内|年前|年后|月内|上半年|下半年|季度|明年|后年|近期|日前|[之以]前|前夕|届时|[春夏秋冬]季|当场|当天|当日")


def _span_or_hour(question: str) -> re.Pattern | None:
    """几点: a clock time; which day: a day; how long (几天内, 判了几年): a span (3个月, 十五天;
    2019年 is a date); when: a date (a month for 几月)."""
    if _CLOCK_ASK.search(question):
        return _CLOCK
    other = _OTHER_TIME.search(question)
    if _DAY_ASK.search(question) and not other:
        return _DAY
    if _DURATION_ASK.search(question) and not _WHEN_ASK.search(question):
        return _DURATION
    if _DATE_ASK.search(question) and not other:
        return _MONTH if re.search(r"几月|哪个月", question) else _DATE
    return None


# A name ends in the suffix of what it names (渌渚村, 新联社区, 张家港市, 红星造纸厂); the
# words before the suffix are a name when they are rare in jieba's dictionary (place and
# person names are; 示范村, 重点村, 行政村, 全镇 are not names) or quoted (“六百服务”).
_NAMED = r"乡镇|社区|街道|研究所|合作社|协会|基地|园区|公司|企业|学校|小学|中学|医院|银行|村|县|区|市|镇|乡|省|厂|所"
_WHICH_NAMED = re.compile(rf"哪(?:一|几)?(?:个|家|所)?({_NAMED})(?![域别分场民长委员级有以谓])")
_NAME_OF = re.compile(rf"({_NAMED})(?:分别|各自?|都)?的?(?:叫什么|名字|名称|全称)")
_PERSON_ASK = re.compile(r"(?:同志|书记|镇长|乡长|县长|市长|主任|局长|主席|部长|院长|校长|经理|组长)[^，。？?]{0,4}(?:全名|名字|叫什么)|"
                         r"(?:全名|姓名)|"
                         # 支队长是谁, 组长由谁担任, 哪位领导带队: a person, named (not 谁来负责: a body or a role answers)
                         r"(?:长|主任|书记|主席|经理)(?:由谁担任|是谁)|哪位领导")
_ROLE = re.compile(r"^(?:同志|书记|副?镇长|副?乡长|副?县长|副?市长|副?主任|副?局长|副?主席|副?部长|副?院长|副?校长|经理|副?组长|"
                   r"副?(?:支|大)?队长|副?会长|副?处长|副?科长|副?所长|副?站长)")
_QUOTED = re.compile(r"“[^”]{2,30}”|《[^》]{2,40}》|「[^」]{2,30}」|\"[^\"]{2,30}\"")
_GENERIC_LEAD = re.compile(r"^[全各本该每此这那哪某其两几一二三四五六七八九十百千多个等]")
_CJK_WORD = re.compile(r"^[\u4e00-\u9fff]+$")
_COMMON = 500
"""Words jieba's dictionary has this often or more are common words, not names (示范 981,
重点 12694; 潍坊 117, 新联 25, 张家港 69, and most names are not in it at all)."""
_NOT_PLACES = frozenset({"城市", "东西", "地方", "中央", "全国"})
"""Words jieba tags as places that name none."""


def _name_like(word: str, tokenizer: Tokenizer) -> bool:
    """Rare in jieba's dictionary, or a place it knows (浙江 3022, 上海 16377 are common words)."""
    return (len(word) >= 2 and bool(_CJK_WORD.match(word)) and not _GENERIC_LEAD.match(word)
            and (tokenizer.frequency(word) < _COMMON or (word in place_names() and word not in _NOT_PLACES)))


def _names(question: str, tokenizer: Tokenizer) -> Callable[[str], bool]:
    """叫什么名字, 哪个村: whether a sentence names one — a quoted name, a person's name before
    a role (for a person's name), or a rare word before the suffix asked (any suffix when the
    question names none)."""
    if _PERSON_ASK.search(question):
        def person(sentence: str) -> bool:
            words = tokenizer.words(sentence)
            return any(_name_like(w, tokenizer) and len(w) <= 4 and _ROLE.match("".join(words[i + 1:i + 2]))
                       for i, w in enumerate(words))
        return person
    m = _WHICH_NAMED.search(question) or _NAME_OF.search(question)
    suffixes = (m.group(1),) if m else tuple(_NAMED.split("|"))

    def named(sentence: str) -> bool:
        # a quoted name answers for what it ends in (哪个社区: “新联社区”, not “失地农民服务中心”)
        if any(not m or q.group(0)[1:-1].endswith(m.group(1)) for q in _QUOTED.finditer(sentence)):
            return True
        words = tokenizer.words(sentence)
        for i, w in enumerate(words):
            for suf in suffixes:
                if not w.endswith(suf):
                    continue
                prefix, k = w[:-len(suf)], i
                # the word before a bare suffix is the name (新联 村); a name jieba cuts into
                # characters (渌 渚 村) is its single characters joined
                while len(prefix) < 2 and k > 0 and (not prefix or len(words[k - 1]) == 1):
                    k -= 1
                    prefix = words[k] + prefix
                # or the word before a kind of thing that ends in the suffix (红星 造纸厂),
                # or two words before it (金和能 电池 有限公司)
                if _name_like(prefix, tokenizer) or any(_name_like(x, tokenizer) for x in words[max(0, i - 2):i]):
                    return True
        return False
    return named


# 要经过哪些程序: the steps themselves — a sequence (首先…然后, 经…审核后, 报…审批, 由…提供给) or
# two acts of one (申请 and 审核, 评议 and 公示) — not a sentence that says 按程序办 or 程序规范
_SEQUENCE = re.compile(r"首先|然后|其次|随后|再由|再报|之后|第[一二三]步|"
                       r"经[^，。；]{1,12}(?:审核|审批|批准|同意|评议|讨论)|报[^，。；]{1,10}(?:审批|审核|批准|备案)|"
                       r"由[^，。；]{1,12}(?:提供给|报送|上报|审核|审批|核实)")
_ACTS = re.compile(r"申请|审核|审批|公示|提交|登记|上报|报送|批准|备案|评议|张榜|核实|签字|受理")


# the papers themselves, listed (无犯罪记录、思想品德鉴定表等证明); 表 and 书 only in a paper's
# name (代表、书记 are none)
_PAPER = (r"证明|证件|证书|证照|材料|许可证|身份证|户口簿|(?:申请|登记|鉴定|审批|汇总|统计|评议|信息)表|"
          r"(?:申请|证明|承诺|保证|协议|委托)书")
_PAPERS = re.compile(rf"(?:{_PAPER})[^。；！？]{{0,20}}、|、[^。；！？]{{0,20}}(?:{_PAPER})")


_PAPERS_ASK = re.compile(r"哪些(?:证明)?材料|哪些证")


def _steps(question: str, tokenizer: Tokenizer) -> Callable[[str], bool]:
    """Whether a sentence lays out steps (see ``_SEQUENCE``), or, for 哪些材料 / 哪些证, lists the papers."""
    if _PAPERS_ASK.search(question):
        return lambda sentence: bool(_PAPERS.search(sentence))
    return lambda sentence: bool(_SEQUENCE.search(sentence)) or len(set(_ACTS.findall(sentence))) >= 2


# 具体是哪六百, 清理哪三样: the items themselves, listed (一是…二是…, A、B、C)
_LIST = re.compile(r"、[^。；！？]*、|一是|二是|第一|其一|首先|[（(][一二三四五六七八九十\d][)）]|(?<!\d)\d[、.．](?!\d)|"
                   r"[”》][^。；！？“《]{0,8}[“《]")


def _pair(question: str) -> re.Pattern | None:
    """哪两件事: two items, which a plain 和 or 、 joins."""
    return re.compile(_LIST.pattern + "|、|和|与|及") if re.search(r"哪[两二]", question) else None


TYPES = (
    AnswerType("money", "具体金额", re.compile(
        r"多少(?:钱|元|万|块)|(?:补贴|补助|补偿|奖励|奖金|资金|罚款|罚|工资|津贴|费|贷)[^，。？?]{0,6}多少|"
        r"多少[^，。？?]{0,6}(?:补贴|补助|补偿|奖励|奖金|资金|罚款|工资|津贴|费用|经费|投资|产值|收入|利润|税收)|捐了多少|"
        # 总投资是多少, 产值有多少: a sum of money, stated in 元 or 亿 (9个亿)
        r"(?:投资|产值|收入|利润|税收|增加值|销售额|营业额|经费|投入|总额)[^，。？?]{0,6}(?:多少|几个亿)"),
        re.compile(rf"{_NUM}\s*(?:多|余|来)?\s*(?:元|万元|亿元|块)|{_NUM}\s*(?:多|余|来)?\s*个?亿(?![人户])"), specific=True, refine=_money_per_unit),
    AnswerType("count", "具体数字", re.compile(
        rf"多少(?:{_UNITS}|个|万|亿)|(?<![没哪那好这近第])几(?:个(?!月)|{_UNITS})|"
        # 多少成员, 多少党组织: a count of whatever is named (not money, not a span of time)
        r"多少(?=[\u4e00-\u9fff])(?!钱|元|块|年|天|个?月|周|小时|分钟|次数)|"
        rf"多少$|多少[？?、，,]|多大|比例|占比|{_UNIT_WORD_ASK}"),
        re.compile(rf"{_NUM}\s*(?:多|余|来)?\s*(?:%|％|个|倍|万|亿|千|公里|{_UNITS})|百分之"),
        refine=_count_in_unit),
    AnswerType("time", "具体时间或期限", re.compile(
        r"什么时候|(?<!为)何时|哪年|哪一年|几月|哪个月|哪一?天|几号|多久|多长时间|(?<![没这那近])几天|多少天|几个月|多少年|"
        r"(?<![没这那近])几年(?!来)|期限|截止|几点|什么时间"),
        re.compile(rf"{_NUM}\s*(?:年|月|日|号|天|周|小时|个月|季度)|季度|每年|每月|每周|年底|月底|年内|月内|日前|以前|之前|"
                   r"期间|上半年|下半年|春节|冬季|夏季|近期|当场|当天|当日"), refine=_span_or_hour),
    AnswerType("contact", "联系方式", re.compile(r"电话|热线|号码|邮箱|网址"),
               re.compile(r"\d{3,4}-?\d{6,8}|\d{7,}")),
    AnswerType("where", "具体地点", re.compile(r"在哪里|去哪|哪里|什么地方|地址|哪家医院|在哪(?!一?[天个年]|几|些|方面)"),
               re.compile(r"地点|地址|设在|位于|医院|大厅|窗口|服务中心|服务站|办事处|[在到]\S{1,8}(?:办理|报名|申请)")),
    AnswerType("procedure", "具体程序或手续", re.compile(
        r"哪些程序|什么程序|什么手续|哪些手续|手续|流程|步骤|怎么办理|如何办理|怎么申请|如何申请|"
        rf"{_PAPERS_ASK.pattern}|"
        r"怎么(?:去)?补领|怎么填报"),
        None, check=_steps),
    AnswerType("name", "具体名称", re.compile(rf"叫什么|什么名字|的名字|名称|题目|{_PERSON_ASK.pattern}|{_WHICH_NAMED.pattern}|"
                                             # 分别是哪几家: the names, whatever they end in
                                             r"分别是哪(?:几|些)(?:个|家|所)?(?=[？?，,]|$)"),
               None, specific=True, check=_names),
    AnswerType("rank", "具体名次", re.compile(r"第几|排老几"),
               re.compile(r"第\s*[一二三四五六七八九十\d]+\s*(?:位|名|个|大)|首位|首个|前列|名列|位居|居首|[前后]\s*[三五十]\s*(?:位|名)")),
    # 要满足什么条件: conditions stated (符合…条件, 年满18周岁, 凡…的)
    AnswerType("condition", "具体条件", re.compile(r"什么条件|哪些条件|什么样的条件|满足什么|具备什么|什么资格|哪些资格"),
               re.compile(r"条件|符合|年满|具备|资格|凡是?[^，。；]{1,12}的|不超过|不低于|不得")),
    # 会受到什么处分: a sanction stated (给予…处分, 追究责任, 移送司法机关, 罚款)
    AnswerType("penalty", "具体处理结果", re.compile(
        r"(?:受到|给予|得到)了?什么(?:样的)?(?:处理|处分|处罚|惩处)|什么(?:样的)?处分|(?:怎么|如何)(?:处分|处罚|惩处)"),
        re.compile(r"处分|开除|撤职|免职|降级|警告|记过|追究|问责|移送|罚款|处罚|查处|通报|停职|歇职|诫勉")),
    AnswerType("list", "具体内容", re.compile(r"哪[二两三四五六七八九十百千]+(?:个|项|样|条|类|种|件|大|方面)?"),
               _LIST, refine=_pair),
)
_QUESTION_WORDS = ("多少", "怎么", "哪些", "什么", "如何", "哪里", "哪个")

def asked(question: str) -> list[AnswerType]:
    """The kinds of value ``question`` asks for (an amount of money is not also a bare count,
    nor a share an amount: 补贴比例是多少)."""
    kinds = [t for t in TYPES if t.asks.search(question)]
    if _RATE_ASK.search(question):
        kinds = [t for t in kinds if t.name != "money"]
    if any(t.name == "money" for t in kinds) and _count_in_unit(question) is None:
        kinds = [t for t in kinds if t.name != "count"]  # (总投资多少、修多长 asks a length too)
    return kinds


def gives(kind: AnswerType, question: str, tokenizer: Tokenizer) -> Callable[[str], bool]:
    """Whether a sentence gives ``kind`` of value for ``question``: the kind's ``check``, or
    its pattern, or the narrower one its ``refine`` reads from the question's wording. The
    question's own figures answer nothing (全市260家养猪场有多少家达标: "260家" is the premise)."""
    if kind.check is not None:
        return kind.check(question, tokenizer)
    pattern = (kind.refine(question) if kind.refine else None) or kind.gives
    figures = sorted(set(_FIGURE.findall(question)), key=len, reverse=True)
    if not figures:
        return lambda sentence: pattern.search(sentence) is not None
    own = re.compile(rf"(?<![\d.])(?:{'|'.join(map(re.escape, figures))})(?![\d.])")
    return lambda sentence: pattern.search(own.sub("", sentence)) is not None


_FIGURE = re.compile(r"\d+(?:\.\d+)?%?")


def salient_terms(terms: dict[str, float], n: int = 3) -> list[str]:
    """The question's ``n`` most specific words (highest IDF), its question words left out."""
    words = [t for t in sorted(terms, key=lambda t: -terms[t])
             if t not in _QUESTION_WORDS and not any(k.asks.search(t) for k in TYPES)]
    return words[:n]


class AnswerTypeJudge:
    """Abstains when the best passages hold no sentence near the question with the value it
    asks for (with none of the values, when it asks for several: a part answered is an answer)."""

    def __init__(self, index: Index, settings: AbstentionSettings):
        self.index = index
        self.settings = settings

    def __call__(self, state: QueryState) -> None:
        st = self.settings
        if not (state.abstain and st.answer_type) or (state.verdict and state.verdict.abstained):
            return
        kinds = asked(state.text)
        if not kinds:
            return
        closest, specific = self.relevant(state)
        wanted = {k.name: gives(k, state.text, self.index.tokenizer) for k in kinds}
        missing = [k for k in kinds
                   if not any(wanted[k.name](s) for s in (specific if k.specific else closest + specific))]
        v = state.verdict
        v.evidence["asks"] = [k.name for k in kinds]
        if len(missing) == len(kinds):  # kinds is not empty
            v.abstained, v.support = True, min(v.support, 0.0)
            v.reason = NO_ANSWER + f"（最相关的段落没有给出{'、'.join(k.label for k in missing)}）"
            v.evidence["missing"] = [k.name for k in missing]

    def relevant(self, state: QueryState) -> tuple[list[str], list[str]]:
        """Sentences of the top passages near the question: (the few with the highest
        cosine, every one holding one of its most specific words that these passages use)."""
        st = self.settings
        top = state.ranked()[:st.answer_type_passages]
        cands = [(cos, text) for i in top for text, _, cos in self.index.passage_sentences(i, state.vector)]
        # the specific words that anchor a sentence are the question's words these passages
        # use: a word none of them has (a colloquial 种地人家) anchors nothing, and the focus
        # test has judged it already
        texts = [self.index.passages[i].text for i in top]
        words = salient_terms({t: w for t, w in state.terms.items() if any(t in x for x in texts)})
        closest = [text for _, text in sorted(cands, key=lambda c: -c[0])[:st.answer_type_sentences]]
        return closest, [text for _, text in cands if any(w in text for w in words)]
