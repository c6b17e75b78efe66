"""The review app in a real browser: headless Chromium driven by Playwright.

The server runs in a thread on a free port, over sample photos read by the real
pipeline (the fixture of ``test_review.py``). Chromium comes from the system
(``scripts/setup.sh --dev`` installs it): a missing browser is a failure, never
a skip, so a green run always means the page was really used.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from flipchart_ocr.corrections import load_corrections, ocr_fingerprint
from flipchart_ocr.review import create_app, make_review_server

from .fixtures import sheet_json
from .test_review import (
    AUSTAUSCH,
    HAND_WRITTEN,
    THEMEN,
    comment_lines,
    doubtful_word,
    field_ocr,
    process_samples_once,
)

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SETUP_HINT = "run `scripts/setup.sh --dev` (installs chromium and the dev extra with playwright)"
TIMEOUT_MS = 10_000


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(f"Chromium is not installed: {SETUP_HINT}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"Playwright is not installed: {SETUP_HINT}")
    executable = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return process_samples_once(tmp_path_factory)


@dataclass
class Server:
    url: str
    corrections: Path
    requests: list[tuple[str, str, int, str | None]] = field(default_factory=list)


@pytest.fixture
def server(out_dir: Path, tmp_path: Path) -> Iterator[Server]:
    corrections = tmp_path / "corrections" / "event.yaml"
    corrections.parent.mkdir()
    corrections.write_text(HAND_WRITTEN, encoding="utf-8")
    app = create_app(out_dir, corrections, port=0)
    wsgi = make_review_server(app, 0)
    running = Server(f"http://127.0.0.1:{wsgi.port}", corrections)

    @app.after_request
    def record(response: Any) -> Any:
        from flask import request

        running.requests.append(
            (request.method, request.path, response.status_code, request.headers.get("Origin"))
        )
        return response

    thread = threading.Thread(target=wsgi.serve_forever, daemon=True)
    thread.start()
    yield running
    wsgi.shutdown()
    wsgi.server_close()
    thread.join(timeout=5)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="de-DE")
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"script errors in the page: {errors}"


def active_field(page: Any) -> str:
    return page.evaluate("document.activeElement.id")


def in_viewport(page: Any, selector: str) -> bool:
    return page.evaluate(
        """(selector) => {
            const box = document.querySelector(selector).getBoundingClientRect();
            return box.top >= 0 && box.bottom <= window.innerHeight;
        }""",
        selector,
    )


def test_edit_a_field_with_the_keyboard_and_save(
    page: Any, server: Server, out_dir: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page.goto(server.url + "/")
    # the overview focuses "Start with the first sheet not reviewed"
    start = page.get_by_role("link", name=f"Start with {AUSTAUSCH}")
    expect(start).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/sheets/{AUSTAUSCH}")
    assert active_field(page) == "text-laeuft_gut"

    page.keyboard.press("Alt+ArrowDown")
    assert active_field(page) == "text-handlungsbedarfe"
    page.keyboard.press("Control+A")
    page.keyboard.type("Zusammenhalt aller Vereine\ngenerationsübergreifend")
    section = page.locator("#field-handlungsbedarfe")
    assert section.locator(".diff ins").count() > 0  # the live diff against the OCR
    assert section.locator(".tag.dirty").is_visible()

    page.keyboard.press("Control+S")
    # (an assertion, not wait_for_function: the page's CSP forbids evaluating strings)
    expect(page.locator("#status")).to_have_text("Saved 1 field.")

    assert not section.locator(".tag.dirty").is_visible()
    text = server.corrections.read_text(encoding="utf-8")
    entry = yaml.safe_load(text)["sheets"][AUSTAUSCH]["fields"]["handlungsbedarfe"]
    assert entry == {
        "text": "Zusammenhalt aller Vereine\ngenerationsübergreifend",
        "ocr_sha": ocr_fingerprint(field_ocr(out_dir, AUSTAUSCH, "handlungsbedarfe")),
    }
    assert comment_lines(text) == comment_lines(HAND_WRITTEN)
    assert server.corrections.with_name("event.yaml.bak").read_text(encoding="utf-8") == (
        HAND_WRITTEN
    )

    # the low-confidence words and lines are marked, on the text and on the crop
    assert page.locator(".ocr .word.low").count() > 0
    assert page.locator(".crop .line-box.low").count() > 0
    shot = tmp_path / "review-sheet-view.png"
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 10_000
    print(f"screenshot of the sheet view: {shot}")


def test_shortcuts_keep_the_focused_field_on_screen(
    page: Any, server: Server, out_dir: Path
) -> None:
    page.goto(f"{server.url}/sheets/{THEMEN}")
    fields = [f["id"] for f in sheet_json(out_dir, THEMEN)["fields"]]
    assert active_field(page) == f"text-{fields[0]}"

    page.keyboard.press("Alt+ArrowUp")  # from the first field round to the last
    assert active_field(page) == f"text-{fields[-1]}"
    assert in_viewport(page, f"#field-{fields[-1]}")

    page.keyboard.press("Escape")  # out of the text box: single keys navigate
    page.keyboard.press("k")
    assert active_field(page) == f"text-{fields[-2]}"
    assert in_viewport(page, f"#field-{fields[-2]}")

    low = [
        f["id"]
        for f in sheet_json(out_dir, THEMEN)["fields"]
        if any(line["confidence"] < 60 for line in f["lines"])
    ]
    assert low
    page.keyboard.press("Alt+l")
    focused = active_field(page).removeprefix("text-")
    assert focused in low
    assert in_viewport(page, f"#field-{focused}")

    page.keyboard.press("Tab")
    following = fields[(fields.index(focused) + 1) % len(fields)]
    assert active_field(page) == f"text-{following}"
    assert in_viewport(page, f"#field-{following}")


def test_mark_reviewed_save_and_go_on_with_ctrl_enter(page: Any, server: Server) -> None:
    page.goto(f"{server.url}/sheets/{AUSTAUSCH}")

    page.keyboard.press("Control+Enter")
    page.wait_for_url("**/sheets/freeform-01-steve-mixed")

    assert load_corrections(server.corrections).sheets[AUSTAUSCH].reviewed is True
    assert comment_lines(server.corrections.read_text(encoding="utf-8")) == comment_lines(
        HAND_WRITTEN
    )


def test_a_change_on_disk_is_detected_and_shown(page: Any, server: Server) -> None:
    page.goto(f"{server.url}/sheets/{AUSTAUSCH}")
    edited_elsewhere = HAND_WRITTEN + "# added in an editor meanwhile\n"
    server.corrections.write_text(edited_elsewhere, encoding="utf-8")

    page.keyboard.type(" und mehr")
    page.keyboard.press("Control+S")

    banner = page.locator("#banner")
    banner.wait_for(state="visible")
    assert "changed on disk since you opened this page: reload" in banner.inner_text()
    assert page.locator("#banner-reload").is_visible()
    assert server.corrections.read_text(encoding="utf-8") == edited_elsewhere
    assert ("POST", f"/api/sheets/{AUSTAUSCH}/save", 409, server.url) in server.requests


ATTACKER_PAGE = """<!doctype html>
<html><body>
<form id="csrf" method="post" enctype="text/plain" action="{action}">
  <input name='{{"version": "{version}", "fields": {{"laeuft_gut": "gehackt"}}, "x": "' value='"}}'>
</form>
<script>
  fetch("{action}", {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}},
         body: JSON.stringify({{version: "{version}", fields: {{laeuft_gut: "gehackt"}}}})}})
    .catch(() => null)
    .finally(() => document.getElementById("csrf").submit());
</script>
</body></html>
"""


def test_a_post_from_a_foreign_origin_is_refused(page: Any, server: Server) -> None:
    version = page.request.get(f"{server.url}/api/sheets/{AUSTAUSCH}").json()["version"]
    action = f"{server.url}/api/sheets/{AUSTAUSCH}/save"
    attacker = "http://attacker.test"
    html = ATTACKER_PAGE.format(action=action, version=version)
    page.route(f"{attacker}/**", lambda route: route.fulfill(body=html, content_type="text/html"))

    with page.expect_response(action) as submitted:
        page.goto(f"{attacker}/innocent.html")
    assert submitted.value.status == 403

    # the form's POST reaches the server; Chromium may already block the fetch itself
    posts = [r for r in server.requests if r[0] == "POST"]
    assert posts, "the foreign page's requests did not reach the server"
    assert all(status == 403 and origin == attacker for _, _, status, origin in posts)
    assert server.corrections.read_text(encoding="utf-8") == HAND_WRITTEN


def test_a_suggestion_learned_from_another_sheet_is_taken_with_alt_a(
    page: Any, server: Server, out_dir: Path
) -> None:
    from playwright.sync_api import expect

    field_id, read = doubtful_word(out_dir, THEMEN)
    typed = read[:-1] + ("x" if read[-1] != "x" else "y")
    server.corrections.write_text(
        HAND_WRITTEN.replace("Räumlichkeiten für alle Gruppen", f"{typed} im Quartier"),
        encoding="utf-8",
    )
    page.goto(f"{server.url}/sheets/{THEMEN}")
    section = page.locator(f"#field-{field_id}")
    offer = section.locator(".suggestion")
    expect(offer).to_be_visible()
    expect(offer).to_contain_text(f"{read} → {typed}")
    section.locator("textarea").focus()
    page.keyboard.press("Alt+A")
    assert typed in section.locator("textarea").input_value().split()
    expect(offer).to_be_hidden()
    assert section.locator(".tag.dirty").is_visible()  # taken into the text, not yet saved
