"""讲稿检索助手 — the web app: ``python app.py [--host 127.0.0.1] [--port 7860] [--settings FILE] [-v]``.

The app itself is the package ``assistant.web`` (layout, rendering, handlers over one
``assistant.service.QueryService``); this file is only its entry point.
"""
import sys

from assistant.web import main

if __name__ == "__main__":
    sys.exit(main())
