"""Speech metadata from a title and its paragraphs: date, occasion, place, speaker, kind.

Rules are generic (patterns of how Chinese official speeches are titled and dated), never
per-title, and tuned for precision: a field is left out rather than guessed.

    extract_metadata("在全镇党员干部大会上的讲话", paragraphs, {"date": "2021-05-08"})
    -> {"date": "2021-05-08", "year": 2021, "occasion": "全镇党员干部大会", "kind": "讲话"}
"""
from __future__ import annotations

import datetime as _dt
import logging
import re
import threading
import unicodedata
from collections import Counter
from functools import lru_cache

log = logging.getLogger(__name__)

__all__ = ["extract_metadata", "find_date", "occasion_of", "kind_of", "speaker_of", "places_in"]

_HAN = "\u4e00-\u9fff"

# --- dates ----------------------------------------------------------------------------------
_CN_DIGIT = {"〇": 0, "零": 0, "○": 0, "О": 0, "Ｏ": 0, "一": 1, "二": 2, "三": 3, "四": 4,
             "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_DATE_YMD_CN = re.compile(r"(?<!\d)(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]")
_DATE_YMD_SEP = re.compile(r"(?<![\d.])(\d{4})\s*([-/.])\s*(\d{1,2})\s*\2\s*(\d{1,2})(?![\d.])")
_DATE_HANZI = re.compile(r"([〇零○ОＯ一二三四五六七八九]{4})年([一二三四五六七八九十]{1,3})月"
                         r"([一二三四五六七八九十]{1,3})[日号]")
_DATE_LABEL = re.compile(r"^\s*[（(]?\s*(?:时间|日期|发布时间|发布日期|讲话时间)\s*[:：]")


def _cn_number(s: str) -> int | None:
    """一..三十一 -> int."""
    if not s:
        return None
    if "十" not in s:
        return _CN_DIGIT.get(s) if len(s) == 1 else None
    tens, _, ones = s.partition("十")
    t = _CN_DIGIT.get(tens, None) if tens else 1
    o = _CN_DIGIT.get(ones, None) if ones else 0
    if t is None or o is None:
        return None
    return t * 10 + o


def _valid(y: int, m: int, d: int) -> str | None:
    if not 1949 <= y <= 2100:
        return None
    try:
        return _dt.date(y, m, d).isoformat()
    except ValueError:
        return None


def _dates_in(text: str) -> list[tuple[int, int, str]]:
    """(start, end, ISO date) of every full date written in the text."""
    text = unicodedata.normalize("NFKC", text)
    out = []
    for m in _DATE_YMD_CN.finditer(text):
        iso = _valid(int(m[1]), int(m[2]), int(m[3]))
        if iso:
            out.append((m.start(), m.end(), iso))
    for m in _DATE_YMD_SEP.finditer(text):
        iso = _valid(int(m[1]), int(m[3]), int(m[4]))
        if iso:
            out.append((m.start(), m.end(), iso))
    for m in _DATE_HANZI.finditer(text):
        digits = [_CN_DIGIT[c] for c in m[1]]
        y = digits[0] * 1000 + digits[1] * 100 + digits[2] * 10 + digits[3]
        mo, d = _cn_number(m[2]), _cn_number(m[3])
        if mo and d:
            iso = _valid(y, mo, d)
            if iso:
                out.append((m.start(), m.end(), iso))
    return sorted(out)


def find_date(text: str) -> str | None:
    """The first full date in a text, as YYYY-MM-DD."""
    found = _dates_in(text)
    return found[0][2] if found else None


def _date_line(p: str) -> str | None:
    """A paragraph that states the speech date: labelled (时间:…) or little else but a date,
    e.g. "（2022年3月30日）" or "2022年3月30日" under a signature."""
    p = unicodedata.normalize("NFKC", p).strip()
    found = _dates_in(p)
    if not found:
        return None
    if _DATE_LABEL.match(p) and len(p) <= 40:
        return found[0][2]
    start, end, iso = found[0]
    rest = re.sub(r"[\s()（）\[\]【】〔〕<>《》,，.。:：、-]", "", p[:start] + p[end:])
    return iso if len(rest) <= 2 else None


def _norm_header_date(v) -> str | None:
    if isinstance(v, (_dt.date, _dt.datetime)):
        return v.strftime("%Y-%m-%d")
    return find_date(str(v)) if v else None


def _speech_date(title: str, paragraphs: list[str], header_meta: dict) -> str | None:
    d = _norm_header_date(header_meta.get("date"))
    if d:
        return d
    d = find_date(title)
    if d:
        return d
    # the date line sits under the title or under the signature, never mid-speech
    near = list(paragraphs[:5]) + list(paragraphs[-3:] if len(paragraphs) > 5 else [])
    for p in near:
        d = _date_line(p)
        if d:
            return d
    return None


# --- title forms ----------------------------------------------------------------------------
_TITLE_JUNK = re.compile(
    r"(?:\s*(?:[（(]\s*(?:精选|推荐|通用|最新|范文|完整版|全文)?\s*\d*\s*篇?\s*[)）])"
    r"|\s*篇\s*\d{1,3}|范文稿|范文|范例|范本|模板|全文|原文|大全|精选)+$")
_KIND_ENDINGS = (
    ("讲话提纲", "讲话"), ("讲话材料", "讲话"), ("讲话稿", "讲话"), ("讲稿", "讲话"),
    ("讲话", "讲话"), ("发言材料", "材料"), ("发言稿", "发言"), ("发言", "发言"),
    ("致辞", "致辞"), ("致词", "致辞"), ("主持词", "主持词"), ("述职报告", "述职报告"),
    ("报告", "报告"), ("汇报", "汇报"), ("材料", "材料"), ("总结", "总结"),
    ("心得体会", "心得体会"), ("党课", "党课"), ("工作计划", "计划"), ("工作方案", "方案"),
)
_SPEECH_WORDS = ("讲话提纲|讲话材料|讲话稿|总结讲话|动员讲话|重要讲话|讲话|讲稿|表态发言|交流发言|"
                 "发言稿|发言|致辞|致词|主持词|工作报告|报告|党课")
_MEETING = ("联席会议|常务会议|工作会议|会议|大会|座谈会|动员会|推进会|部署会|调度会|汇报会|"
            "总结会|表彰会|交流会|现场会|培训会|报告会|务虚会|专题会|见面会|恳谈会|茶话会|"
            "团拜会|誓师会|发布会|观摩会|例会|全会|年会|论坛|培训班|研讨班|开班式|结业式|"
            "开幕式|闭幕式|启动仪式|仪式|典礼|会")
# organisations whose names end in 会: not meetings on their own
_NOT_MEETING = re.compile(r"(?:协会|学会|商会|工会|委员会|联合会|基金会|研究会|理事会|促进会|"
                          r"常委会|联谊会|代表会|人大会)$")
_AT_MEETING = re.compile(rf"在(?P<occ>(?:(?!在).){{2,60}}?)(?:上|时)的?(?:{_SPEECH_WORDS})$")
_MEETING_SPEECH = re.compile(rf"^(?P<occ>.{{2,60}}?(?:{_MEETING}))上?的?(?:{_SPEECH_WORDS})$")
_EXCHANGE = re.compile(r"^(?P<occ>.{2,60}?(?:经验交流|工作交流|交流|座谈|汇报))会?(?:发言)?(?:材料|发言)$")
_ADMIN_PREFIX = re.compile(r"^(?:[镇乡县市区](?![委政人纪直属级域城镇乡])|[×xX*＊]{1,3}[镇乡县市区]|某某?[镇乡县市区])")


def clean_title(title: str) -> str:
    """A title without list noise: "(精选18篇)", "篇3", "范文稿"."""
    t = unicodedata.normalize("NFKC", title or "").strip()
    t = re.sub(r"(?<![A-Za-z0-9])\s+|\s+(?![A-Za-z0-9])", "", t)  # keep "Work Report"
    prev = None
    while prev != t:
        prev, t = t, _TITLE_JUNK.sub("", t).strip()
    return t


def kind_of(title: str) -> str | None:
    """讲话 / 发言 / 材料 / 总结 / 报告 ... from the title's last word."""
    t = clean_title(title)
    for ending, kind in _KIND_ENDINGS:
        if t.endswith(ending):
            return kind
    return None


def _plausible_occasion(occ: str) -> bool:
    return 2 <= len(occ) <= 40 and len(re.findall(f"[{_HAN}]", occ)) >= 2


def occasion_of(title: str) -> str | None:
    """The meeting or event a speech was given at, from its title.

    "在全镇党员干部大会上的讲话" -> "全镇党员干部大会"; "乡镇人大工作会议讲话" -> "乡镇人大工作会议";
    "镇科学发展观活动经验交流材料" -> "科学发展观活动经验交流"."""
    t = clean_title(title)
    t = re.sub(r"^[—–-]+", "", t)
    m = _AT_MEETING.search(t)
    if m:
        occ = m["occ"].strip("“”\"《》 ")
        return occ if _plausible_occasion(occ) else None
    m = _MEETING_SPEECH.match(t)
    if m and not _NOT_MEETING.search(m["occ"]):
        occ = m["occ"]
        return occ if _plausible_occasion(occ) else None
    m = _EXCHANGE.match(t)
    if m:
        occ = _ADMIN_PREFIX.sub("", m["occ"])
        return occ if _plausible_occasion(occ) else None
    return None


# --- speaker --------------------------------------------------------------------------------
_ROLE_SUFFIX = re.compile(
    r"(?:常务副书记|副书记|书记|常务副主任|副主任|主任委员|主任|秘书长|理事长|董事长|总经理|"
    r"副主席|主席|副部长|部长|副局长|局长|副厅长|厅长|副处长|处长|副科长|科长|所长|站长|队长|"
    r"组长|副院长|院长|副校长|校长|会长|社长|常务副县长|常务副市长|常务副区长|副镇长|镇长|"
    r"副乡长|乡长|副县长|县长|副区长|区长|副市长|市长|副省长|省长|常委|委员|负责人)")
_OWN_ORG_ROLE = re.compile(r"^(?:常务)?副?(?:镇长|乡长|县长|区长|市长|省长)$")
_ORG_MARK = re.compile(r"党委|党组|党工委|党支部|总支|县委|市委|区委|省委|镇|乡|县|市|区|省|村|"
                       r"人大|政府|政协|纪委|监委|局|厅|部|院|校|公司|办|委员会|常委会|街道|"
                       r"社区|团委|妇联|工会|中心|所|站|集团|协会")


def _role(who: str) -> str | None:
    """The office in a speaker phrase: "镇党委书记张三" -> "镇党委书记";
    a bare "韩书记" (surname + office) names a person, not a role -> None."""
    who = unicodedata.normalize("NFKC", who)
    who = re.sub(r"\d{4}年\d{1,2}月\d{1,2}日|\s+|同志$", "", who)
    who = re.split(r"[:：,，。；;]", who)[-1]
    last = None
    for m in _ROLE_SUFFIX.finditer(who):
        last = m
    if last is None:
        return None
    role = who[:last.end()].strip("、（）()")
    prefix = who[:last.start()]
    if _OWN_ORG_ROLE.match(role):
        return role
    if len(role) < 3 or not _ORG_MARK.search(prefix):
        return None
    if not re.fullmatch(f"[{_HAN}、]+", role) or len(role) > 30:
        return None
    return role


_TITLE_SPEAKER = re.compile(rf"^(?P<who>[^在]{{2,30}}?)(?:同志)?在.+?(?:上|时)的?(?:{_SPEECH_WORDS})$")
_PAREN_SPEAKER = re.compile(r"^[（(]\s*(?P<who>[^（）()]{2,30}?)\s*[)）]$")
_NAME_TAIL = re.compile(rf"[{_HAN}]{{2,3}}(?:同志)?$")


def speaker_of(title: str, paragraphs: list[str]) -> str | None:
    """The speaker's office where the title or a by-line under it states it."""
    t = clean_title(title)
    m = _TITLE_SPEAKER.match(t)
    if m:
        r = _role(m["who"])
        if r:
            return r
    for p in paragraphs[:4]:
        p = p.strip()
        if len(p) > 30 or p.endswith(("：", ":")):
            continue
        m = _PAREN_SPEAKER.match(p)
        who = m["who"] if m else p
        if not m and not _NAME_TAIL.search(re.sub(r"\s", "", who)):
            continue  # a by-line outside brackets ends with the name: "县委书记 张三"
        r = _role(who)
        if r:
            return r
    return None


# --- places ---------------------------------------------------------------------------------
_PLACE_SUFFIX = "镇乡县市区"
_NAME_FLAGS = {"ns", "nr", "nrt", "nz", "nrfg", "g"}
_GENERIC_CHARS = set("省市县区乡镇村各全本我该此每两三几城集社")
# common nouns that look like place names (jieba even tags some of them ns)
_GENERIC_TAILS = ("城市", "都市", "水乡", "地区", "市区", "城区", "社区", "山区", "郊区", "园区",
                  "景区", "库区", "矿区", "林区", "牧区", "老区", "辖区", "片区", "街区", "小区",
                  "灾区", "校区", "水区", "城镇", "村镇", "集镇", "乡镇", "小镇", "古镇", "重镇",
                  "名镇", "强镇", "城乡", "家乡", "故乡", "老乡", "下乡", "山乡", "超市", "上市",
                  "股市", "楼市", "夜市", "集市", "门市", "闹市", "菜市", "强县", "大县", "强市",
                  "大市", "镇县", "乡县")
_GENERIC_PLACES = {"中心镇", "重点镇", "特色镇", "建制镇", "示范区", "开发区", "工业区", "贫困县",
                   "农业县", "试点县", "示范县", "先进县", "百强县", "经济区", "保护区", "试验区",
                   "老城区", "主城区", "新城区", "大城市", "小城市", "小城镇", "大都市", "县城区"}
_CLAUSE = re.compile(r"[^，。！？；：、,.!?;:\s“”\"'‘’（）()《》【】\[\]]+")
_HAS_PLACE = re.compile(f"[{_HAN}]{{2}}[{_PLACE_SUFFIX}]")
_pos_lock = threading.Lock()


@lru_cache(maxsize=1)
def _pos_tokenizer():
    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    tok = jieba.Tokenizer()  # private: the search tokenizer's user words must not change tags
    tok.initialize()
    return jieba.posseg.POSTokenizer(tok)


def _is_han(w: str) -> bool:
    return bool(re.fullmatch(f"[{_HAN}]+", w))


def _acceptable_place(cand: str, known: bool = False) -> bool:
    """known: a 3-character dictionary place word (兰山区, 婺城区) may end like a common
    noun (山区, 城区); longer or unknown words may not (特大城市, 周边地区)."""
    base = cand[:-1]
    tail_ok = (known and len(cand) == 3) or not cand.endswith(_GENERIC_TAILS)
    return (cand not in _GENERIC_PLACES and tail_ok
            and not any(c in _PLACE_SUFFIX for c in base) and not set(base) <= _GENERIC_CHARS)


def _place_candidates(text: str) -> list[str]:
    """Town/county/city names in a text. jieba's part-of-speech tags find the names:
    a dictionary place word (潍坊市, 汉阴县), or name-like pieces before a lone 镇/乡/县/市
    (渌渚 + 镇). 区 only as a dictionary word: "深水区", "示范区" are everyday nouns."""
    clauses = [c for c in _CLAUSE.findall(text) if _HAS_PLACE.search(c)]
    if not clauses:
        return []
    pos = _pos_tokenizer()
    freq = pos.tokenizer.FREQ
    out = []
    with _pos_lock:
        tokenized = [[(w.word, w.flag) for w in pos.cut(c)] for c in clauses]
    for toks in tokenized:
        for i, (w, flag) in enumerate(toks):
            cand, known = None, False
            if 3 <= len(w) <= 5 and w[-1] in _PLACE_SUFFIX and _is_han(w):
                known = flag == "ns" and freq.get(w, 0) > 0  # a dictionary place word
                if known or (w[-1] in "镇乡" and flag in ("ns", "nr", "nz")):
                    cand = w
            elif w in "镇乡县市" and len(w) == 1 and i > 0:
                base, j = "", i - 1
                allowed = _NAME_FLAGS if w in "镇乡" else {"ns"}
                while j >= 0 and toks[j][1] in allowed and _is_han(toks[j][0]):
                    if len(base) + len(toks[j][0]) > 4:
                        break
                    base = toks[j][0] + base
                    j -= 1
                if 2 <= len(base) <= 4:
                    cand = base + w
            if cand and _acceptable_place(cand, known):
                out.append(cand)
    return out


def places_in(title: str, paragraphs: list[str], limit_chars: int = 50000) -> list[str]:
    """Proper names of towns/counties/cities stated in the text, most frequent first."""
    counts: Counter = Counter()
    first: dict[str, int] = {}
    texts = [title] * 2 + list(paragraphs)  # the title counts double
    used = 0
    for t in texts:
        if used >= limit_chars:
            break
        t = t[:limit_chars - used]  # a single 10 MB paragraph is cut too: POS tagging is slow
        used += len(t)
        for c in _place_candidates(unicodedata.normalize("NFKC", t)):
            counts[c] += 1
            first.setdefault(c, len(first))
    return sorted(counts, key=lambda c: (-counts[c], first[c]))


# --- all together ---------------------------------------------------------------------------
def extract_metadata(title: str, paragraphs: list[str], header_meta: dict | None = None) -> dict:
    """date, year, occasion, place/places, speaker, kind - each only when found."""
    header_meta = header_meta or {}
    paragraphs = [p for p in (paragraphs or []) if p and p.strip()]
    title = title or ""
    meta: dict = {}
    date = _speech_date(title, paragraphs, header_meta)
    if date:
        meta["date"] = date
        meta["year"] = int(date[:4])
    occ = occasion_of(title)
    if occ:
        meta["occasion"] = occ
    try:
        places = places_in(title, paragraphs)
    except ImportError:  # jieba missing: places are optional
        places = []
    if places:
        meta["place"] = places[0]
        if len(places) > 1:
            meta["places"] = places[:5]
    speaker = speaker_of(title, paragraphs)
    if speaker:
        meta["speaker"] = speaker
    kind = kind_of(title)
    if kind:
        meta["kind"] = kind
    return meta
