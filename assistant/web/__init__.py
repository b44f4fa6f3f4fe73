"""The web UI: a Gradio page over one ``QueryService``.

    assets.py    CSS and the page's small scripts
    render.py    pure functions: results -> escaped HTML
    handlers.py  event handlers and the API, plain functions of the service
    layout.py    the components and their events (build_app)
    server.py    serve() and the app's command line (main)
"""
from .layout import build_app
from .server import main, serve

__all__ = ["build_app", "main", "serve"]
