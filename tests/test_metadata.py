"""Speech metadata: date, occasion, place, speaker, kind - generic rules, precision first."""
from __future__ import annotations

from pathlib import Path

import pytest

from assistant.ingest import load_corpus
from assistant.metadata import extract_metadata, find_date, kind_of, occasion_of, speaker_of

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("title,occasion", [
    ("在全镇党员干部大会上的讲话", "全镇党员干部大会"),
    ("在中层干部工作会议上的讲话", "中层干部工作会议"),
    ("乡镇人大工作会议讲话", "乡镇人大工作会议"),
    ("镇科学发展观活动经验交流材料", "科学发展观活动经验交流"),
    ("在全镇党员干部大会上的讲话范文稿", "全镇党员干部大会"),
    ("乡镇人大工作会议讲话(精选18篇)", "乡镇人大工作会议"),
    ("乡镇人大工作会议讲话 篇3", "乡镇人大工作会议"),
    ("镇党委书记张三在全镇经济工作会议上的讲话", "全镇经济工作会议"),
    ("在2022年全县经济工作会议暨表彰大会上的讲话", "2022年全县经济工作会议暨表彰大会"),
    ("全市上半年经济形势分析会讲话", "全市上半年经济形势分析会"),
    ("在全县乡镇人大工作座谈会上的发言", "全县乡镇人大工作座谈会"),
    ("在调研乡村振兴工作时的讲话", "调研乡村振兴工作"),
])
def test_occasion(title, occasion):
    assert occasion_of(title) == occasion


@pytest.mark.parametrize("title", ["2015年工作计划", "县工会讲话", "关于加强安全生产的几点意见",
                                   "讲话", "同志们"])
def test_no_occasion_when_not_stated(title):
    assert occasion_of(title) is None


@pytest.mark.parametrize("title,kind", [
    ("在全镇党员干部大会上的讲话范文稿", "讲话"), ("镇科学发展观活动经验交流材料", "材料"),
    ("2022年上半年工作总结", "总结"), ("在表彰大会上的致辞", "致辞"), ("述职报告", "述职报告"),
    ("在座谈会上的发言", "发言"), ("关于加强安全生产的几点意见", None),
])
def test_kind(title, kind):
    assert kind_of(title) == kind


@pytest.mark.parametrize("text,date", [
    ("时间:2022-03-30 02:39:51", "2022-03-30"),
    ("2022年3月30日", "2022-03-30"),
    ("２０２２年３月３０日", "2022-03-30"),   # full-width digits
    ("2022.3.30", "2022-03-30"),
    ("2022/03/30", "2022-03-30"),
    ("二〇二二年三月三十日", "2022-03-30"),
    ("二〇一九年十二月九日", "2019-12-09"),
    ("2022年2月30日", None),                 # no such day
    ("11月25日", None),                      # no year: not a full date
    ("1.2.3", None),
])
def test_find_date(text, date):
    assert find_date(text) == date


def test_date_sources_and_precedence():
    # the header's date (ingest's "时间:" line, html meta) wins
    m = extract_metadata("在2021年3月1日全县大会上的讲话", ["（2022年3月30日）"], {"date": "2020-01-02"})
    assert m["date"] == "2020-01-02" and m["year"] == 2020
    # then a date in the title
    assert extract_metadata("2021年3月1日在全县大会上的讲话", ["（2022年3月30日）"])["date"] == "2021-03-01"
    # then a date line under the title or under the signature
    assert extract_metadata("讲话", ["（2022年3月30日）", "同志们："])["date"] == "2022-03-30"
    assert extract_metadata("讲话", ["时间：2022年3月30日上午", "同志们："])["date"] == "2022-03-30"
    body = ["同志们："] + ["今天我们召开大会。"] * 8 + ["某某镇人民政府", "二〇二二年三月三十日"]
    assert extract_metadata("讲话", body)["date"] == "2022-03-30"
    # a date inside the speech is an event, not the speech date; a year alone is no date
    m = extract_metadata("2015年工作计划", ["同志们：", "会议于2021年3月5日召开，开得很好。"])
    assert "date" not in m and "year" not in m


def test_speaker_role_only_where_stated():
    assert speaker_of("镇党委书记张三在全镇经济工作会议上的讲话", []) == "镇党委书记"
    assert speaker_of("县人大常委会主任李四在全县乡镇人大工作座谈会上的讲话", []) == "县人大常委会主任"
    assert speaker_of("县委副书记、县长王五同志在全县安全生产工作会议上的讲话", []) == "县委副书记、县长"
    assert speaker_of("在全县工作会议上的讲话", ["（2022年3月30日）", "县委书记 张三", "同志们："]) == "县委书记"
    assert speaker_of("在全县工作会议上的讲话", ["（县人大常委会主任 李四同志）", "同志们："]) == "县人大常委会主任"
    # a surname with an office names a person; another speaker quoted in the body is not ours
    assert speaker_of("韩书记在全市大会上的讲话", []) is None
    assert speaker_of("乡镇大讨论活动总结大会讲话",
                      ["大讨论活动已开展两周时间。11月25日,韩书记在全市大讨论活动总结大会上的讲话指出,要抓落实。"]) is None
    assert speaker_of("在全县工作会议上的讲话", ["同志们：", "（张三同志）"]) is None


def test_places_are_proper_names_only():
    m = extract_metadata("在全县工作会议上的讲话", [
        "今天我们在潍坊市召开会议，潍坊市各县市区、渌渚镇、汉阴县负责同志参加。",
        "我镇和全县各乡镇要加快城镇化，建设工业强镇、示范区，改革进入深水区，建设文明城市。",
        "本县、市县两级、城乡统筹、江南水乡、周边地区。",
    ])
    assert m["place"] == "潍坊市"
    assert m["places"] == ["潍坊市", "渌渚镇", "汉阴县"]
    assert "place" not in extract_metadata("讲话", ["全镇上下、我镇、本县、各乡镇、乡镇、城镇、市县都要抓落实。"])


def test_full_example():
    m = extract_metadata("在全镇党员干部大会上的讲话", ["（2022年3月30日）", "镇党委书记 张三",
                                                  "同志们：", "今天我们在渌渚镇召开全镇党员干部大会。"])
    assert m == {"date": "2022-03-30", "year": 2022, "occasion": "全镇党员干部大会",
                 "place": "渌渚镇", "speaker": "镇党委书记", "kind": "讲话"}


def test_empty_input_gives_empty_dict():
    assert extract_metadata("", []) == {}
    assert extract_metadata("", [], None) == {}


def test_seed_corpus():
    docs, skipped = load_corpus(ROOT / "corpus")
    assert not skipped
    by_title = {}
    for d in docs:
        by_title.setdefault(d.title, []).append(extract_metadata(d.title, d.paragraphs, d.meta))
    assert set(by_title) == {"乡镇大讨论活动总结大会讲话", "乡镇人大工作会议讲话", "在中层干部工作会议上的讲话",
                             "在全镇党员干部大会上的讲话范文稿", "镇科学发展观活动经验交流材料"}
    expected = {
        "乡镇大讨论活动总结大会讲话": ("乡镇大讨论活动总结大会", "2022-03-30", "讲话"),
        "在中层干部工作会议上的讲话": ("中层干部工作会议", "2022-06-13", "讲话"),
        "在全镇党员干部大会上的讲话范文稿": ("全镇党员干部大会", "2021-05-08", "讲话"),
        "镇科学发展观活动经验交流材料": ("科学发展观活动经验交流", "2022-08-31", "材料"),
    }
    for title, (occasion, date, kind) in expected.items():
        (m,) = by_title[title]
        assert (m["occasion"], m["date"], m["year"], m["kind"]) == (occasion, date, int(date[:4]), kind)
    series = by_title["乡镇人大工作会议讲话"]
    assert len(series) == 18
    assert all(m["occasion"] == "乡镇人大工作会议" and m["kind"] == "讲话" for m in series)
    assert all("date" not in m for m in series)  # the collection page states no date
    # places found in the seeds are real place names; speakers are never invented here
    generic = {"全镇", "我镇", "本县", "各乡镇", "乡镇", "城镇", "市县", "深水区", "文明城市", "特大城市"}
    for ms in by_title.values():
        for m in ms:
            assert not generic & set(m.get("places", [m.get("place")]))
            assert "speaker" not in m
    assert {"潍坊市", "汉阴县"} <= {m.get("place") for m in series}
