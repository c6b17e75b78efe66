"""The review app: a local web page to fix the OCR text, saved into the corrections file.

``serve`` is what ``flipchart-ocr review`` runs; ``create_app`` (in ``app.py``) is
the Flask app on its own, for tests. ``folder.py`` keeps the output folder's sheets
(read again when ``process`` rewrites one), ``state.py`` says what a page shows and
sends, ``store.py`` edits the corrections file, and ``static/review.js`` is the sheet
view's script (autosave, drafts in the browser, conflicts, keyboard).
"""

from __future__ import annotations

import os
import socket
import threading
import webbrowser
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from ..errors import UsageError
from .app import create_app

__all__ = ["create_app", "default_corrections_path", "make_review_server", "serve"]

HOST = "127.0.0.1"  # never another interface: the app has no login


def default_corrections_path(out_dir: Path) -> Path:
    """``corrections/<OUT name>.yaml`` beside OUT: ``out/`` -> ``corrections/out.yaml``."""
    out = Path(os.path.normpath(out_dir))
    return out.parent / "corrections" / f"{out.resolve().name}.yaml"


class _QuietHandler(WSGIRequestHandler):
    """No line per request on the terminal: the URL and errors are what the user needs."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if str(code).startswith("5"):
            super().log_request(code, size)


def make_review_server(app: Flask, port: int) -> BaseWSGIServer:
    """werkzeug's threaded server on 127.0.0.1; port 0 picks a free one.

    The app's Host and Origin checks are set to the port actually bound.
    """
    # Bound here, not by werkzeug, which exits the process when the port is taken.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        sock.listen(64)
    except OSError as e:
        sock.close()
        raise UsageError(
            f"cannot listen on {HOST}:{port} ({e.strerror or e}); choose another --port"
        ) from e
    server = make_server(
        HOST, port, app, threaded=True, request_handler=_QuietHandler, fd=sock.fileno()
    )
    sock.detach()  # the server's socket shares the descriptor and closes it
    app.config["REVIEW_PORT"] = server.port
    return server


def serve(
    out_dir: Path,
    corrections: Path,
    port: int = 8000,
    open_browser: bool = True,
    templates_dir: Path | None = None,
    echo: Callable[[str], None] = print,
) -> None:
    """Run the review app until Ctrl-C."""
    app = create_app(out_dir, corrections, templates_dir, port)
    server = make_review_server(app, port)
    url = f"http://{HOST}:{server.port}/"
    state = "" if Path(corrections).exists() else " (created at the first save)"
    echo(f"corrections: {corrections}{state}")
    echo(f"review: {url}  (Ctrl-C stops)")
    if open_browser:
        # some browsers block the caller until they exit; the server must not wait
        threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
    try:
        server.serve_forever()  # werkzeug's returns on Ctrl-C
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    echo("stopped")
