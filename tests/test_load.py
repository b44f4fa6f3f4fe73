"""Live changes under load: 20 loopback clients on /search while a speech is added and
another removed, from the app and from the CLI in another process. 0 errors, 0 malformed,
every response consistent with the index version it reports; the app swaps to the CLI's
index by itself. Shortened here (ASSISTANT_LOAD_SECONDS, default 20 s); the README's
figures come from scripts/reliability.py (60 s)."""
import os

import pytest

from assistant.service import QueryService
from assistant.web import build_app, serve

from tests.app_corpus import free_port
from tests.load import cli_change, run_load, wait_for
from tests.test_app import tiny_settings

EXTRA = """全镇防汛抗旱工作会议讲话
时间：2023年5月20日
一、压实防汛责任
各村要落实防汛抗旱责任制，汛期实行二十四小时值班，发现险情立即报告、立即处置。
二、做好物资储备
镇里储备编织袋、救生衣等防汛物资，各村建立抢险队伍，定期开展应急演练。
"""

MORE = """全镇秸秆禁烧工作会议讲话
时间：2023年6月1日
一、落实禁烧责任
秸秆禁烧事关大气环境质量，各村要把禁烧责任落实到组、到户、到田块，实行二十四小时巡查。
"""


@pytest.fixture
def app(tmp_path):
    settings = tiny_settings(tmp_path, reload_seconds=0.5, concurrency=4)
    service = QueryService.prepared(settings, progress=False)
    demo = build_app(service)
    port = free_port()
    serve(demo, settings, host="127.0.0.1", port=port, block=False)
    service.watch()
    yield service, f"http://127.0.0.1:{port}/", tmp_path
    demo.close()


def test_twenty_clients_while_the_corpus_changes(app):
    service, url, tmp = app
    incoming = tmp / "incoming"
    incoming.mkdir()
    (incoming / "fangxun.txt").write_text(EXTRA, "utf-8")
    (incoming / "jinshao.txt").write_text(MORE, "utf-8")
    first = service.index.version

    def app_add():
        rep = service.add_files([incoming / "fangxun.txt"])
        assert rep.changed == ["fangxun.txt"]
        return "app add"

    def cli_add():
        label = cli_change(service.settings, "add", str(incoming / "jinshao.txt"))
        # the running app notices the CLI's index by itself
        assert wait_for(lambda: any(p.citation.source == "jinshao.txt" for p in service.index.passages), 20)
        return label

    def app_remove():
        assert service.remove_files(["fangxun.txt"]).changed == ["fangxun.txt"]
        return "app remove"

    def cli_remove():
        label = cli_change(service.settings, "remove", "jinshao.txt")
        assert wait_for(lambda: not any(p.citation.source == "jinshao.txt" for p in service.index.passages), 20)
        return label

    seconds = float(os.environ.get("ASSISTANT_LOAD_SECONDS", "20"))
    report = run_load(url, service, clients=20, seconds=seconds, changes=[app_add, cli_add, app_remove, cli_remove])
    print(report.line())
    assert report.requests > 20 * 3
    assert report.errors == [] and report.malformed == 0 and report.inconsistent == 0
    assert len(report.versions) >= 3 and first in report.versions  # the swaps happened under load
