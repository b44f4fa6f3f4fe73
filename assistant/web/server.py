"""Serving the app: ``python app.py`` (or ``python -m assistant.web``).

    python app.py [--host 127.0.0.1] [--port 7860] [--settings assistant.toml] [-v]

Settings, embedder and index are loaded once at start-up (the index is built on the first
run). The server binds 127.0.0.1 unless told otherwise and uses basic auth when
``settings.web.auth`` ("user:password") is set; editing the corpus is switched off on a
non-loopback host without auth.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from .. import logs  # noqa: E402
from ..errors import AssistantError  # noqa: E402
from ..service import QueryService  # noqa: E402
from ..settings import Settings  # noqa: E402
from .assets import CARD_ACTIONS_JS, CSS  # noqa: E402
from .handlers import LOOPBACK  # noqa: E402
from .layout import TITLE, build_app  # noqa: E402

log = logging.getLogger(__name__)

UPLOAD_CEILING = 2
"""The server itself takes uploads up to this many times ``max_file_mb``."""


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    """``user:password`` -> (user, password); None when unset."""
    if not auth:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise AssistantError("auth 设置应为 \"用户名:密码\" (settings.auth must look like user:password)")
    return user, password


def serve(demo: gr.Blocks, settings: Settings, host: str | None = None, port: int | None = None,
          block: bool = True):
    """Launch on ``host:port`` (settings: 127.0.0.1:7860), with basic auth when configured.
    With ``block=False`` it returns once the server is up (tests).

    Gradio refuses uploads above ``UPLOAD_CEILING`` × ``max_file_mb`` outright (its own
    English message); files between the two limits reach the upload handler, which refuses
    them with a Chinese message naming the limit."""
    web = settings.web
    return demo.launch(server_name=host or web.host, server_port=port or web.port,
                       auth=parse_auth(web.auth), share=False, prevent_thread_lock=not block,
                       show_error=False, max_file_size=f"{UPLOAD_CEILING * settings.index.max_file_mb}mb", css=CSS,
                       js=CARD_ACTIONS_JS, footer_links=["api"], quiet=not block)


def main(argv: list[str] | None = None) -> int:
    """The app's command line; returns the exit code (2 with a message for bad settings)."""
    p = argparse.ArgumentParser(description=f"{TITLE}: web app")
    p.add_argument("--host", help="address to bind (default: settings web.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: settings web.port, 7860)")
    p.add_argument("--settings", help="a TOML settings file (default: assistant.toml or $ASSISTANT_SETTINGS)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = p.parse_args(argv)
    try:
        settings = Settings.load(args.settings, host=args.host, port=args.port)
    except (ValueError, FileNotFoundError) as e:
        print(f"错误 / error: {e}", file=sys.stderr)
        return 2
    logs.configure("DEBUG" if args.verbose else settings.log_level, "%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        parse_auth(settings.web.auth)
        service = QueryService.open(settings)
        demo = build_app(service)
    except AssistantError as e:
        print(f"错误 / error: {e}", file=sys.stderr)
        return 2
    web = settings.web
    if web.host not in LOOPBACK and not web.auth:
        log.warning("serving on %s without auth: anyone on the network can use the app", web.host)
    log.info("serving %s on http://%s:%d", TITLE, web.host, web.port)
    service.watch()  # swap to an index the CLI made current (reload_seconds)
    serve(demo, settings)
    return 0
