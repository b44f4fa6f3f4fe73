"""Coverage-guided fuzzing of the readers with atheris (libFuzzer). Optional: pip install atheris.

    python scripts/fuzz_atheris.py [-atheris_runs=N] [-max_total_time=SECONDS] [-timeout=10] [CORPUS_DIR ...]

An input's first byte picks the file name's extension, the rest is the file. ``read_file``
must return speeches or raise ``IngestError`` naming the file; any other exception stops the
fuzzer and libFuzzer saves the input (``crash-…``); an input running over ``-timeout`` seconds
is saved as ``timeout-…``. Without a corpus folder it starts from the seed files of
tests/fuzz.py (one valid file per format) in a temporary folder. Replay a saved input
with ``python scripts/fuzz_atheris.py crash-…``.

Only the project's own modules are instrumented (coverage guidance inside python-docx,
pypdf and lxml would slow every input down many times over).
"""
from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

try:
    import atheris
except ImportError:
    sys.exit("atheris is not installed: pip install atheris (a wheel for CPython on Linux x86-64; "
             "elsewhere it needs clang), or use tests/test_fuzz.py (hypothesis)")

with atheris.instrument_imports(include=["assistant"]):
    from assistant.errors import IngestError
    from assistant.ingest import read_file

EXTENSIONS = [".txt", ".docx", ".pdf", ".html", ".htm", ".md", "", ".TXT"]
WORK = Path(tempfile.mkdtemp(prefix="atheris-readers-"))


def one_input(data: bytes) -> None:
    """libFuzzer's entry point: one file through read_file."""
    if not data:
        return
    name = f"fuzz{EXTENSIONS[data[0] % len(EXTENSIONS)]}"
    path = WORK / name
    path.write_bytes(data[1:])
    try:
        docs = read_file(path)
    except IngestError as e:
        if name not in str(e):
            raise AssertionError(f"the message does not name {name}: {e}") from None
        return
    if not docs or not all(d.paragraphs for d in docs):
        raise AssertionError(f"read_file returned {docs!r:.200}")


def seed_corpus() -> Path:
    """The seed files of tests/fuzz.py, each prefixed with its extension's byte."""
    from tests.fuzz import seed_files

    folder = WORK / "seeds"
    folder.mkdir()
    for name, data in seed_files().items():
        ext = Path(name).suffix
        (folder / name).write_bytes(bytes([EXTENSIONS.index(ext)]) + data)
    return folder


def main() -> None:
    logging.disable(logging.WARNING)  # pypdf and the readers log every damaged file
    argv = list(sys.argv)
    if not any(not a.startswith("-") for a in argv[1:]):
        argv.append(str(seed_corpus()))
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
