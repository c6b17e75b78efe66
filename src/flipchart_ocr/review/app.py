"""The review app: Flask routes over the sheets of one output folder and a corrections file.

A local, single-user tool, but a web server all the same: any page the user has
open in the same browser can send requests to 127.0.0.1. So every request must
carry our own Host header (DNS rebinding: a foreign name resolving to
127.0.0.1), every state-changing request our own Origin (or Referer) and a JSON
body (CSRF: a foreign form cannot post JSON without a CORS preflight we never
answer), and images are looked up by sheet and field id, never by path.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
    send_file,
    url_for,
)
from PIL import Image
from werkzeug.exceptions import HTTPException

from ..corrections import Corrections, canonical_text, resolve_field
from ..errors import CorrectionsError
from ..learn import Learned
from ..merge import LoadedSheet, learn_from
from ..templates import Template, load_templates
from .folder import SheetFolder
from .state import (
    clamp,
    field_box,
    overview_row,
    parse_replace_request,
    parse_save_request,
    progress,
    sheet_state,
    to_review,
)
from .store import CorrectionsChanged, CorrectionsStore, SaveResult, Snapshot

EXTENSION = "flipchart_review"
THUMB_WIDTH = 220
MAX_CROP_WIDTH = 1400

# No inline script or style, no other origin: what a page may load is our own files.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self'; script-src 'self'; style-src 'self';"
    " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


@dataclass
class Review:
    """Everything the routes need: the sheets (read again when they change), templates, store."""

    folder: SheetFolder
    templates: dict[str, Template]
    store: CorrectionsStore
    _learned: tuple[tuple[str, int], Learned] | None = field(default=None, repr=False)

    @classmethod
    def load(cls, out_dir: Path, corrections: Path, templates_dir: Path | None = None) -> Review:
        templates = load_templates(templates_dir)
        folder = SheetFolder(Path(out_dir))
        store = CorrectionsStore(
            corrections,
            [s.sheet for s in folder.sheets],
            templates,
            folder.failed_ids,
            folder.out_dir,
        )
        return cls(folder, templates, store)

    @property
    def out_dir(self) -> Path:
        return self.folder.out_dir

    @property
    def sheets(self) -> list[LoadedSheet]:
        return self.folder.sheets

    @property
    def failures(self) -> list[str]:
        return self.folder.failures

    @property
    def ignored(self) -> list[str]:
        return list(self.folder.ignored.values())

    def refresh(self) -> None:
        """Take in sheet JSONs ``process`` wrote since the last request."""
        if self.folder.refresh():
            self.store.set_sheets([s.sheet for s in self.folder.sheets], self.folder.failed_ids)

    def loaded(self, sheet_id: str) -> LoadedSheet:
        """The sheet with this id, or 404: ids come from the folder listing, never paths."""
        loaded = self.folder.get(sheet_id)
        if loaded is None:
            abort(404, description=f"no sheet {sheet_id!r}")
        return loaded

    def viewable(self) -> list[LoadedSheet]:
        """Sheets with a sheet view: those whose photo could be read."""
        return [loaded for loaded in self.sheets if loaded.sheet.template is not None]

    def neighbours(self, sheet_id: str) -> tuple[str | None, str | None]:
        ids = [loaded.sheet.id for loaded in self.viewable()]
        if sheet_id not in ids:
            return None, None
        index = ids.index(sheet_id)
        previous = ids[index - 1] if index > 0 else None
        following = ids[index + 1] if index + 1 < len(ids) else None
        return previous, following

    def next_to_review(self, sheet_id: str, corrections: Corrections | None) -> str | None:
        """The first sheet after this one (round to the start) not yet reviewed nor skipped."""
        ids = [loaded.sheet.id for loaded in self.viewable()]
        todo = set(to_review(self.sheets, corrections)) - {sheet_id}
        index = ids.index(sheet_id) if sheet_id in ids else -1
        return next((i for i in ids[index + 1 :] + ids[: index + 1] if i in todo), None)

    def learned(self, snapshot: Snapshot) -> Learned:
        """What the corrections teach (merge's rules), worked out once per file and sheets."""
        key = (snapshot.version, self.folder.generation)
        if self._learned is None or self._learned[0] != key:
            self._learned = (key, learn_from(self.sheets, snapshot.corrections))
        return self._learned[1]

    def state(self, loaded: LoadedSheet, snapshot: Snapshot | None) -> dict[str, Any]:
        corrections = snapshot.corrections if snapshot else Corrections()
        learned = self.learned(snapshot) if snapshot else Learned()
        state = sheet_state(
            loaded,
            corrections,
            snapshot.version if snapshot else None,
            learned,
            self.templates,
            self.folder.stamp_of(loaded),
        )
        following = self.next_to_review(loaded.sheet.id, corrections if snapshot else None)
        state["progress"] = progress(self.sheets, corrections if snapshot else None)
        state["nextToReviewUrl"] = url_for("sheet", sheet_id=following) if following else None
        return state


def create_app(
    out_dir: Path,
    corrections: Path,
    templates_dir: Path | None = None,
    port: int = 8000,
) -> Flask:
    """The app for ``out_dir``; ``port`` is the one the Host and Origin checks accept.

    Raises ``CorrectionsError`` when the corrections file is invalid: better to
    say so at the start than on the first save.
    """
    review = Review.load(Path(out_dir), Path(corrections), templates_dir)
    review.store.snapshot()
    app = Flask(__name__)
    app.config["REVIEW_PORT"] = port
    app.config["MAX_CONTENT_LENGTH"] = 4 * 1024 * 1024
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = review
    app.before_request(_refuse_foreign_requests)
    app.before_request(_take_in_changed_sheets)
    app.after_request(_security_headers)
    app.register_error_handler(HTTPException, _error_response)
    _add_routes(app)
    return app


def _review() -> Review:
    return current_app.extensions[EXTENSION]


def _take_in_changed_sheets() -> None:
    if request.endpoint != "static":
        _review().refresh()


# -- security -----------------------------------------------------------------------------


def allowed_hosts(port: int) -> set[str]:
    hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
    if port == 80:  # browsers leave the default port out of Host
        hosts |= {"127.0.0.1", "localhost"}
    return hosts


def _refuse_foreign_requests() -> Response | None:
    hosts = allowed_hosts(current_app.config["REVIEW_PORT"])
    if request.host.lower() not in hosts:
        return _refusal(403, f"refused: Host {request.host!r} is not this app's address")
    if request.method in ("GET", "HEAD"):
        return None
    if not _same_origin(hosts):
        return _refusal(403, "refused: this request does not come from the review page")
    if not request.is_json:
        return _refusal(415, "refused: send JSON (Content-Type: application/json)")
    return None


def _same_origin(hosts: set[str]) -> bool:
    """The request comes from one of our own pages (Origin, else Referer)."""
    origin = request.headers.get("Origin")
    if origin is None:
        referer = request.headers.get("Referer")
        if not referer:
            return False
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    return origin.lower() in {f"http://{host}" for host in hosts}


def _refusal(status: int, message: str) -> Response:
    response = jsonify({"ok": False, "error": message})
    response.status_code = status
    return response


def _security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if response.mimetype in ("text/html", "application/json"):
        response.headers["Cache-Control"] = "no-store"  # always the file's current state
    return response


def _error_response(error: HTTPException) -> Response:
    message = error.description or error.name
    if request.path.startswith("/api/"):
        return _refusal(error.code or 500, message)
    response = Response(f"{error.code} {error.name}: {message}\n", mimetype="text/plain")
    response.status_code = error.code or 500
    return response


# -- routes -------------------------------------------------------------------------------


def _add_routes(app: Flask) -> None:
    routes: list[tuple[str, str, Callable[..., Any], list[str]]] = [
        ("/", "overview", overview, ["GET"]),
        ("/sheets/<sheet_id>", "sheet", sheet_page, ["GET"]),
        ("/sheets/<sheet_id>/sheet.jpg", "sheet_image", sheet_image, ["GET"]),
        ("/sheets/<sheet_id>/thumb.jpg", "thumb", thumb_image, ["GET"]),
        ("/sheets/<sheet_id>/fields/<field_id>.jpg", "crop", crop_image, ["GET"]),
        (
            "/sheets/<sheet_id>/fields/<field_id>/blocks/<int:index>.jpg",
            "block_crop",
            block_crop_image,
            ["GET"],
        ),
        ("/api/sheets/<sheet_id>", "api_sheet", api_sheet, ["GET"]),
        ("/api/sheets/<sheet_id>/save", "api_save", api_save, ["POST"]),
        ("/api/replace/preview", "api_replace_preview", api_replace_preview, ["POST"]),
        ("/api/replace", "api_replace", api_replace, ["POST"]),
        ("/favicon.ico", "favicon", no_favicon, ["GET"]),
    ]
    for rule, endpoint, view, methods in routes:
        app.add_url_rule(rule, endpoint, view, methods=methods)


def no_favicon() -> Response:
    return Response(status=204)  # browsers ask for one; a 404 would only clutter the console


def overview() -> str:
    review = _review()
    snapshot, problem = _snapshot_or_problem(review)
    corrections = snapshot.corrections if snapshot else None
    rows = [overview_row(loaded, corrections, review.templates) for loaded in review.sheets]
    only_open = request.args.get("show") == "open"
    todo = to_review(review.sheets, corrections)
    shown = [row for row in rows if row["id"] in todo] if only_open else rows
    return render_template(
        "overview.html",
        rows=shown,
        review=review,
        snapshot=snapshot,
        problem=problem,
        only_open=only_open,
        progress=progress(review.sheets, corrections),
        first_open=todo[0] if todo else None,
    )


def sheet_page(sheet_id: str) -> str:
    review = _review()
    loaded = review.loaded(sheet_id)
    if loaded.sheet.template is None:
        abort(404, description=f"{sheet_id}: the photo could not be read; nothing to review")
    snapshot, problem = _snapshot_or_problem(review)
    state = review.state(loaded, snapshot)
    previous, following = review.neighbours(loaded.sheet.id)
    page = {
        **state,
        "saveUrl": url_for("api_save", sheet_id=loaded.sheet.id),
        "stateUrl": url_for("api_sheet", sheet_id=loaded.sheet.id),
        "replaceUrl": url_for("api_replace"),
        "replacePreviewUrl": url_for("api_replace_preview"),
        "overviewUrl": url_for("overview"),
        "previousUrl": url_for("sheet", sheet_id=previous) if previous else None,
        "nextUrl": url_for("sheet", sheet_id=following) if following else None,
        "templateFields": {t.id: t.field_ids() for t in review.templates.values()},
        "storageKey": f"flipchart-review:{review.store.path.resolve()}",
        "problem": problem,
    }
    return render_template(
        "sheet.html",
        page=page,
        sheet=loaded.sheet,
        loaded=loaded,
        review=review,
        problem=problem,
        previous=previous,
        following=following,
    )


def api_sheet(sheet_id: str) -> Response:
    review = _review()
    loaded = review.loaded(sheet_id)
    try:
        snapshot = review.store.snapshot()
    except CorrectionsError as e:
        # e.g. `process` read the sheet with another template the file's entries do not fit
        response = jsonify(
            {"ok": False, "error": str(e), "sheetStamp": review.folder.stamp_of(loaded)}
        )
        response.status_code = 422
        return response
    return jsonify({"ok": True, **review.state(loaded, snapshot)})


def api_save(sheet_id: str) -> Response:
    review = _review()
    loaded = review.loaded(sheet_id)
    try:
        edit = parse_save_request(request.get_json(silent=True), loaded.sheet, review.templates)
    except ValueError as e:
        return _refusal(400, str(e))
    try:
        result = review.store.save(edit)
    except CorrectionsChanged as e:
        return _refusal(409, str(e))
    except CorrectionsError as e:
        return _refusal(422, str(e))
    return jsonify(
        {"ok": True, **_save_answer(result, review), **review.state(loaded, result.snapshot)}
    )


def _save_answer(result: SaveResult, review: Review) -> dict[str, Any]:
    message = f"saved to {review.store.path}" if result.changed else "nothing to save: no changes"
    if result.set_aside:
        message += (
            f"; the corrections of {', '.join(result.set_aside)} (fields the new template"
            " does not have) are kept as comments in the file"
        )
    return {
        "changed": result.changed,
        "message": message,
        "conflicts": [
            {"field": c.field_id, "theirs": c.theirs, "yours": c.yours} for c in result.conflicts
        ],
        "setAside": list(result.set_aside),
    }


def api_replace_preview() -> Response:
    review = _review()
    try:
        old, new = parse_replace_request(request.get_json(silent=True))
        snapshot = review.store.snapshot()
    except ValueError as e:
        return _refusal(400, str(e))
    except CorrectionsError as e:
        return _refusal(422, str(e))
    return jsonify({"ok": True, **replace_preview(review, snapshot.corrections, old, new)})


def api_replace() -> Response:
    review = _review()
    try:
        old, new = parse_replace_request(request.get_json(silent=True))
        preview = replace_preview(review, review.store.snapshot().corrections, old, new)
        result = review.store.add_replacement(old, new)
    except ValueError as e:
        return _refusal(400, str(e))
    except CorrectionsChanged as e:
        return _refusal(409, str(e))
    except CorrectionsError as e:
        return _refusal(422, str(e))
    return jsonify(
        {
            "ok": True,
            "changed": result.changed,
            "version": result.snapshot.version,
            "message": f"replace {old!r} -> {new!r} added to {review.store.path}",
            **preview,
        }
    )


def replace_preview(review: Review, corrections: Corrections, old: str, new: str) -> dict[str, Any]:
    """Where a file-wide ``old -> new`` changes a field, and where a corrected text keeps it."""
    changes, kept = [], []
    for loaded in review.viewable():
        entry = corrections.for_sheet(loaded.sheet.id)
        if entry is not None and entry.skip:
            continue
        for sheet_field in loaded.sheet.fields:
            correction = entry.fields.get(sheet_field.id) if entry else None
            resolved = resolve_field(sheet_field.text, correction, corrections.replace)
            if old not in resolved.text:
                continue
            where = {"sheet": loaded.sheet.id, "field": sheet_field.id}
            if correction is not None and correction.corrects_text:
                kept.append(where)  # a corrected text wins over every replace
            else:
                count = canonical_text(resolved.text).count(old)
                changes.append({**where, "count": count})
    return {
        "find": old,
        "replace": new,
        "fields": changes,
        "occurrences": sum(c["count"] for c in changes),
        "keptInCorrected": kept,
    }


# -- images -------------------------------------------------------------------------------


def sheet_image(sheet_id: str) -> Response:
    loaded = _review().loaded(sheet_id)
    if not loaded.image.is_file():
        abort(404, description=f"{sheet_id}: no sheet image")
    return send_file(loaded.image, mimetype="image/jpeg", max_age=0)


def thumb_image(sheet_id: str) -> Response:
    loaded = _review().loaded(sheet_id)
    if not loaded.image.is_file():
        abort(404, description=f"{sheet_id}: no sheet image")
    return _jpeg(_thumbnail(loaded.image, _mtime(loaded.image)))


def crop_image(sheet_id: str, field_id: str) -> Response:
    loaded = _review().loaded(sheet_id)
    sheet_field = loaded.sheet.field_by_id(field_id)
    if sheet_field is None:
        abort(404, description=f"{sheet_id}: no field {field_id!r}")
    if not loaded.image.is_file():
        abort(404, description=f"{sheet_id}: no sheet image")
    box = field_box(sheet_field, loaded.sheet)
    return _jpeg(_crop(loaded.image, _mtime(loaded.image), box))


def block_crop_image(sheet_id: str, field_id: str, index: int) -> Response:
    """One block of a freeform field (a card, a bullet): shown beside its text."""
    loaded = _review().loaded(sheet_id)
    sheet_field = loaded.sheet.field_by_id(field_id)
    if sheet_field is None or not 0 <= index < len(sheet_field.blocks):
        abort(404, description=f"{sheet_id}: no block {index} in field {field_id!r}")
    if not loaded.image.is_file():
        abort(404, description=f"{sheet_id}: no sheet image")
    box = clamp(sheet_field.blocks[index].bbox, loaded.sheet)
    return _jpeg(_crop(loaded.image, _mtime(loaded.image), box))


def _mtime(path: Path) -> float:
    return path.stat().st_mtime  # part of the cache key: a re-run of process shows up


def _jpeg(data: bytes) -> Response:
    response = Response(data, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "no-cache"
    return response


@lru_cache(maxsize=256)
def _thumbnail(path: Path, mtime: float) -> bytes:
    with Image.open(path) as image:
        image = image.convert("RGB")
        image.thumbnail((THUMB_WIDTH, THUMB_WIDTH * 3))
        return _encode(image, quality=80)


@lru_cache(maxsize=512)
def _crop(path: Path, mtime: float, box: tuple[int, int, int, int]) -> bytes:
    with Image.open(path) as image:
        x, y, w, h = box
        crop = image.convert("RGB").crop((x, y, x + w, y + h))
        if crop.width > MAX_CROP_WIDTH:
            crop.thumbnail((MAX_CROP_WIDTH, MAX_CROP_WIDTH * 4))
        return _encode(crop, quality=88)


def _encode(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _snapshot_or_problem(review: Review) -> tuple[Snapshot | None, str | None]:
    """The corrections file now, or why it cannot be used (the page shows it)."""
    try:
        return review.store.snapshot(), None
    except CorrectionsError as e:
        return None, str(e)
