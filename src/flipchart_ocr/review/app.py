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

from ..corrections import (
    Corrections,
    SheetCorrections,
    canonical_text,
    normalize_text,
    resolve_field,
)
from ..document import LOW_CONFIDENCE, Field, Sheet
from ..errors import CorrectionsError
from ..learn import Learned
from ..merge import LoadedSheet, apply_learned, learn_from, load_sheets
from ..templates import Template, load_templates
from .store import CorrectionsChanged, CorrectionsStore, SheetEdit, Snapshot

EXTENSION = "flipchart_review"
MAX_TEXT = 100_000  # characters per field: far beyond a flipchart, small for a server
THUMB_WIDTH = 220
MAX_CROP_WIDTH = 1400

# No inline script or style, no other origin: what a page may load is our own files.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self'; script-src 'self'; style-src 'self';"
    " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


@dataclass
class Review:
    """Everything the routes need: the sheets (read once), templates and the store."""

    out_dir: Path
    sheets: list[LoadedSheet]
    templates: dict[str, Template]
    store: CorrectionsStore
    failures: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_id = {normalize_text(loaded.sheet.id): loaded for loaded in self.sheets}

    @classmethod
    def load(cls, out_dir: Path, corrections: Path, templates_dir: Path | None = None) -> Review:
        templates = load_templates(templates_dir)
        folder = load_sheets(out_dir)
        sheets = sorted(folder.sheets, key=lambda loaded: loaded.sheet.id)
        store = CorrectionsStore(
            corrections, [s.sheet for s in sheets], templates, folder.failed_ids, out_dir
        )
        return cls(out_dir, sheets, templates, store, folder.failures, folder.ignored)

    def loaded(self, sheet_id: str) -> LoadedSheet:
        """The sheet with this id, or 404: ids come from the folder listing, never paths."""
        loaded = self.by_id.get(normalize_text(sheet_id))
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
    app.after_request(_security_headers)
    app.register_error_handler(HTTPException, _error_response)
    _add_routes(app)
    return app


def _review() -> Review:
    return current_app.extensions[EXTENSION]


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
        ("/api/sheets/<sheet_id>", "api_sheet", api_sheet, ["GET"]),
        ("/api/sheets/<sheet_id>/save", "api_save", api_save, ["POST"]),
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
    rows = [_overview_row(loaded, corrections, review) for loaded in review.sheets]
    return render_template(
        "overview.html",
        rows=rows,
        review=review,
        snapshot=snapshot,
        problem=problem,
        first_open=next((r for r in rows if r["viewable"] and not r["reviewed"]), None),
    )


def sheet_page(sheet_id: str) -> str:
    review = _review()
    loaded = review.loaded(sheet_id)
    if loaded.sheet.template is None:
        abort(404, description=f"{sheet_id}: the photo could not be read; nothing to review")
    snapshot, problem = _snapshot_or_problem(review)
    state = sheet_state(loaded, snapshot, review)
    previous, following = review.neighbours(loaded.sheet.id)
    page = {
        **state,
        "saveUrl": url_for("api_save", sheet_id=loaded.sheet.id),
        "overviewUrl": url_for("overview"),
        "previousUrl": url_for("sheet", sheet_id=previous) if previous else None,
        "nextUrl": url_for("sheet", sheet_id=following) if following else None,
        "lowConfidence": LOW_CONFIDENCE,
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
        return _refusal(422, str(e))
    return jsonify({"ok": True, **sheet_state(loaded, snapshot, review)})


def api_save(sheet_id: str) -> Response:
    review = _review()
    loaded = review.loaded(sheet_id)
    body = request.get_json(silent=True)
    try:
        version, edit = parse_save_request(body, loaded.sheet, review.templates)
    except ValueError as e:
        return _refusal(400, str(e))
    try:
        result = review.store.save(edit, version)
    except CorrectionsChanged as e:
        return _refusal(409, str(e))
    except CorrectionsError as e:
        return _refusal(422, str(e))
    state = sheet_state(loaded, result.snapshot, review)
    count = len(edit.fields)
    message = f"saved to {review.store.path}" if result.changed else "nothing to save: no changes"
    return jsonify(
        {"ok": True, "changed": result.changed, "message": message, "fields": count, **state}
    )


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


def field_box(sheet_field: Field, sheet: Sheet) -> tuple[int, int, int, int]:
    """The field's box on the rectified sheet, clamped to it; the whole sheet if unknown."""
    width, height = sheet.size or (0, 0)
    if sheet_field.box is None:
        return (0, 0, width, height) if width and height else _lines_box(sheet_field)
    x, y, w, h = (int(round(v)) for v in sheet_field.box)
    if width and height:
        x, y = max(0, min(x, width - 1)), max(0, min(y, height - 1))
        w, h = max(1, min(w, width - x)), max(1, min(h, height - y))
    return x, y, max(w, 1), max(h, 1)


def _lines_box(sheet_field: Field) -> tuple[int, int, int, int]:
    if not sheet_field.lines:
        return (0, 0, 1, 1)
    left = min(line.bbox[0] for line in sheet_field.lines)
    top = min(line.bbox[1] for line in sheet_field.lines)
    right = max(line.bbox[0] + line.bbox[2] for line in sheet_field.lines)
    bottom = max(line.bbox[1] + line.bbox[3] for line in sheet_field.lines)
    return left, top, max(right - left, 1), max(bottom - top, 1)


# -- page state ---------------------------------------------------------------------------


def _snapshot_or_problem(review: Review) -> tuple[Snapshot | None, str | None]:
    """The corrections file now, or why it cannot be used (the page shows it)."""
    try:
        return review.store.snapshot(), None
    except CorrectionsError as e:
        return None, str(e)


def sheet_state(loaded: LoadedSheet, snapshot: Snapshot | None, review: Review) -> dict[str, Any]:
    """What the sheet view shows and the page's script keeps: JSON-ready."""
    sheet = loaded.sheet
    corrections = snapshot.corrections if snapshot else Corrections()
    entry = corrections.for_sheet(sheet.id)
    learned = learn_from(review.sheets, corrections)
    return {
        "sheetId": sheet.id,
        "version": snapshot.version if snapshot else None,
        "template": sheet.template,
        "templateOverride": entry.template if entry else None,
        "reviewed": bool(entry and entry.reviewed),
        "skip": bool(entry and entry.skip),
        "size": list(sheet.size) if sheet.size else None,
        "fields": [_field_state(f, sheet, entry, corrections, learned) for f in sheet.fields],
    }


def _field_state(
    sheet_field: Field,
    sheet: Sheet,
    entry: SheetCorrections | None,
    corrections: Corrections,
    learned: Learned,
) -> dict[str, Any]:
    correction = entry.fields.get(sheet_field.id) if entry else None
    resolved = resolve_field(sheet_field.text, correction, corrections.replace)
    # What merge would make of the field from the other sheets' corrections: offered to
    # the reviewer (Alt+A), never filled in unasked.
    suggestion, fixes = apply_learned(learned, resolved.text, sheet_field, entry, correction)
    lines = [
        {
            "text": line.text,
            "confidence": round(line.confidence, 1),
            "bbox": list(line.bbox),
            "low": line.confidence < LOW_CONFIDENCE,
            "words": [
                {"text": w.text, "confidence": w.confidence, "low": w.confidence < LOW_CONFIDENCE}
                for w in line.words
            ],
        }
        for line in sheet_field.lines
    ]
    return {
        "id": sheet_field.id,
        "label": sheet_field.label,
        "ocr": canonical_text(sheet_field.text),
        "text": canonical_text(resolved.text),
        "origin": resolved.origin,
        "warnings": list(resolved.warnings),
        "confidence": round(sheet_field.confidence, 1),
        "box": list(field_box(sheet_field, sheet)),
        "lines": lines,
        "lowLines": sum(1 for line in lines if line["low"]),
        "suggestion": canonical_text(suggestion) if fixes and suggestion else None,
        "suggestionFixes": [[fix.old, fix.new] for fix in fixes],
        "cropUrl": url_for("crop", sheet_id=sheet.id, field_id=sheet_field.id),
    }


def _overview_row(
    loaded: LoadedSheet, corrections: Corrections | None, review: Review
) -> dict[str, Any]:
    sheet = loaded.sheet
    entry = corrections.for_sheet(sheet.id) if corrections else None
    template = review.templates.get(sheet.template or "")
    corrected = 0
    for sheet_field in sheet.fields:
        correction = entry.fields.get(sheet_field.id) if entry else None
        replace = corrections.replace if corrections else ()
        if resolve_field(sheet_field.text, correction, replace).origin == "corrected":
            corrected += 1
    return {
        "id": sheet.id,
        "viewable": sheet.template is not None,
        "template": sheet.template,
        "template_name": template.name if template else sheet.template,
        "override": entry.template if entry else None,
        "fields": len(sheet.fields),
        "low_lines": sum(
            1 for f in sheet.fields for line in f.lines if line.confidence < LOW_CONFIDENCE
        ),
        "corrected": corrected,
        "reviewed": bool(entry and entry.reviewed),
        "skip": bool(entry and entry.skip),
        "warnings": list(sheet.warnings),
        "has_image": loaded.image.is_file(),
    }


# -- the save request ---------------------------------------------------------------------


def parse_save_request(
    body: Any, sheet: Sheet, templates: dict[str, Template]
) -> tuple[str, SheetEdit]:
    """The version and the edit of a save request; ``ValueError`` says what is wrong."""
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    version = body.get("version")
    if not isinstance(version, str) or not version:
        raise ValueError("'version' (the corrections file's version from the page) is missing")
    fields = body.get("fields", {})
    if not isinstance(fields, dict):
        raise ValueError("'fields' must map field ids to texts")
    known = {f.id for f in sheet.fields}
    texts = {}
    for field_id, text in fields.items():
        if field_id not in known:
            raise ValueError(f"sheet {sheet.id!r} has no field {field_id!r}")
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise ValueError(f"field {field_id!r}: expected text (at most {MAX_TEXT} characters)")
        texts[field_id] = normalize_text(text)  # NFC: "ä" typed on a Mac is "ä"
    flags = {}
    for key in ("reviewed", "skip"):
        value = body.get(key)
        if value is not None and not isinstance(value, bool):
            raise ValueError(f"'{key}' must be true or false")
        flags[key] = value
    template = body.get("template")
    if template is not None and (not isinstance(template, str) or template not in {"", *templates}):
        raise ValueError(f"unknown template {template!r}; known: {', '.join(templates)}")
    return version, SheetEdit(sheet.id, texts, flags["reviewed"], flags["skip"], template)
