"""Command line: python -m assistant build | search | similar | eval."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time

from .errors import AssistantError
from .settings import Settings

log = logging.getLogger("assistant")


def quiet_libraries() -> None:
    """Keep third-party chatter out of the user's terminal (the CLI and app own logging)."""
    import bm25s  # noqa: F401  -- it sets its own logger to DEBUG on import; undo that after

    for noisy in ("sentence_transformers", "httpx", "jieba", "filelock", "datasketch", "faiss.loader",
                  "bm25s", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


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
        s.add_argument("--mode", choices=["dense", "bm25", "hybrid"], default=None)
        f = s.add_argument_group("filters (repeatable)")
        f.add_argument("--source", action="append", default=[], help="a source file name")
        f.add_argument("--occasion", action="append", default=[], help="e.g. 全镇党员干部大会")
        f.add_argument("--place", action="append", default=[], help="e.g. 潍坊市")
        f.add_argument("--date-from", help="YYYY-MM-DD (speeches without a date are left out)")
        f.add_argument("--date-to", help="YYYY-MM-DD")

    a = sub.add_parser("add", help="add speech files (txt, docx, pdf, html, md) to the corpus and index")
    a.add_argument("paths", nargs="+")
    r = sub.add_parser("remove", help="remove files from the corpus and the index")
    r.add_argument("paths", nargs="+")
    ls = sub.add_parser("list", help="list indexed speeches with passage counts and metadata")
    ls.add_argument("--json", action="store_true")

    e = sub.add_parser("eval", help="evaluate on a labelled JSONL file")
    e.add_argument("file")
    e.add_argument("--k", type=int, default=5)
    e.add_argument("--out", help="write one JSON line per query")
    e.add_argument("--mode", default=None,
                   help="dense, bm25, hybrid, or a comma list / 'all' to compare modes in one run")
    return p


def _searcher(settings: Settings, rebuild: bool = True):
    from .embed import load_embedder
    from .index import ensure, load
    from .search import Searcher

    emb = load_embedder(settings)
    index = ensure(settings, emb) if rebuild else load(settings, emb)
    return Searcher(index, emb, settings)


def _print_result(res, as_json: bool) -> None:
    if as_json:
        print(json.dumps(res.to_dict(), ensure_ascii=False, indent=1))
        return
    if res.abstained:
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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    quiet_libraries()
    try:
        settings = Settings.load(args.settings)
    except (ValueError, OSError) as e:  # bad TOML, unknown key, invalid value, missing file
        print(f"错误 / error: settings: {e}", file=sys.stderr)
        return 2
    try:
        if args.cmd == "build":
            from .embed import load_embedder
            from .index import ensure

            t = time.time()
            index = ensure(settings, load_embedder(settings), force=args.force)
            m = index.manifest
            print(f"index ready: {m['counts']['documents']} speeches, {m['counts']['passages']} passages, "
                  f"model {m['model']['name']} ({time.time() - t:.1f}s) -> {index.path}")
            for s in m.get("skipped", []):
                print(f"skipped: {s}")
            return 0
        if args.cmd in ("add", "remove"):
            from .embed import load_embedder
            from .index import add_files, ensure, remove_files

            emb = load_embedder(settings)
            ensure(settings, emb)  # an up-to-date index to change
            fn = add_files if args.cmd == "add" else remove_files
            rep = fn(settings, emb, args.paths, progress=True)
            verb = "added" if args.cmd == "add" else "removed"
            for name in rep.changed:
                print(f"{verb}: {name}")
            for msg in rep.skipped:
                print(f"skipped: {msg}", file=sys.stderr)
            if rep.index is not None:
                c = rep.index.manifest["counts"]
                print(f"index: {c['documents']} speeches, {c['passages']} passages ({rep.seconds:.1f}s)")
            return 0 if rep.changed or not rep.skipped else 2
        if args.cmd == "list":
            from .embed import load_embedder
            from .index import ensure, list_documents

            rows = list_documents(ensure(settings, load_embedder(settings)))
            if args.json:
                print(json.dumps(rows, ensure_ascii=False, indent=1))
            else:
                for r in rows:
                    extra = " · ".join(str(r[k]) for k in ("date", "occasion", "place", "speaker") if r.get(k))
                    title = f"《{r['title']}》" + (f" 篇{r['number']}" if r["number"] else "")
                    print(f"{r['passages']:4} 段  {title}  {extra}  [{r['source']}]")
                print(f"{len(rows)} speeches, {sum(r['passages'] for r in rows)} passages")
            return 0
        if args.cmd in ("search", "similar"):
            from .search import Filters

            searcher = _searcher(settings)
            fn = searcher.search if args.cmd == "search" else searcher.similar
            filters = Filters(sources=args.source, occasions=args.occasion, places=args.place,
                              date_from=args.date_from, date_to=args.date_to)
            _print_result(fn(args.text, k=args.k, mode=args.mode, filters=filters), args.json)
            return 0
        if args.cmd == "eval":
            from .evaluate import evaluate, format_table, read_queries

            queries = read_queries(args.file)
            modes = (["dense", "bm25", "hybrid"] if args.mode in ("all",) else
                     args.mode.split(",") if args.mode else [settings.mode])
            for m in modes:
                if m not in ("dense", "bm25", "hybrid"):
                    raise AssistantError(f"unknown mode {m!r}: use dense, bm25, hybrid or all")
            searcher = _searcher(settings)
            reports = [evaluate(searcher, queries, k=args.k, mode=m) for m in modes]
            print(format_table(reports))
            if args.out:
                with open(args.out, "w", encoding="utf-8") as fh:
                    for rec in reports[-1].records:
                        fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            return 0
    except AssistantError as e:
        print(f"错误 / error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # missing or unreadable files named on the command line
        print(f"错误 / error: {e.strerror or e}: {e.filename or ''}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 1
