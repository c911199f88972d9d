"""The chat widget in a real browser (Debian's headless Chromium, driven by Playwright).

The service runs in its own process on loopback with the real model; the host pages are served
from other ports, so every call the widget makes is a real cross-origin request. Screenshots go to
test-artifacts/widget/ (or $KHAMTOP_ARTIFACTS/widget/).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from eval.live import live_service as live
from service.settings import PROJECT_ROOT
from service.web import WIDGET_JS

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = os.environ.get("KHAMTOP_CHROMIUM", "/usr/bin/chromium")
# Chromium as root in a container, and no calls home on a machine with a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("KHAMTOP_ARTIFACTS", PROJECT_ROOT / "test-artifacts")) / "widget"

QUESTION = "ไทยได้รับรางวัล ASEAN ICT Award กี่รางวัล"
ANSWER_DOC = "adgmin-2-results-2022"
DESKTOP = {"width": 1280, "height": 800}
MOBILE = {"width": 390, "height": 844}

# A host page that tries hard to restyle everything; none of it may reach the widget.
HOSTILE_CSS = """
* { font-family: "Comic Sans MS", cursive !important; color: #f0f !important; line-height: 1 !important; }
div, section, button, ol, li { display: none !important; }
body { background: #222; }
"""


def host_page(script: str, css: str = HOSTILE_CSS) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Host page</title><style>{css}</style></head>"
        '<body><p><a href="#top">A link of the host page</a></p><p>The host page.</p>'
        f"{script}</body></html>"
    )


@pytest.fixture(scope="module")
def chromium_path() -> str:
    if not Path(CHROMIUM).is_file():
        message = f"no Chromium at {CHROMIUM}: apt-get install chromium (or set KHAMTOP_CHROMIUM)"
        if os.environ.get("KHAMTOP_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


class HostPages(BaseHTTPRequestHandler):
    """Serves ``self.server.pages`` (path -> HTML) and a copy of widget.js at /widget.js."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.path == "/widget.js":
            body, kind = WIDGET_JS.read_bytes(), "text/javascript; charset=utf-8"
        elif self.path in self.server.pages:
            body, kind = self.server.pages[self.path].encode(), "text/html; charset=utf-8"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def host_servers() -> Iterator[dict]:
    """Two host-page servers (one origin the service will allow, one it will not) and a port that
    refuses connections; all bound before the service starts, so no other process can take them."""
    servers = {name: ThreadingHTTPServer(("127.0.0.1", 0), HostPages) for name in ("allowed", "blocked")}
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    for server in servers.values():
        server.pages = {}
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {**servers, "dead": dead.getsockname()[1]}
    for server in servers.values():
        server.shutdown()
        server.server_close()
    dead.close()


def origin(server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="module")
def service(real_index, real_model_dir, host_servers, tmp_path_factory) -> Iterator[dict]:
    """The service with the real model, allowing the ``allowed`` host origin only."""
    log = tmp_path_factory.mktemp("widget-serve") / "serve.log"
    with live(
        real_index,
        log=log,
        KHAMTOP_MODELS_DIR=str(real_model_dir.parent),
        KHAMTOP_CORS_ORIGINS=origin(host_servers["allowed"]),
    ) as svc:
        yield {"base": svc.base_url}


@pytest.fixture(scope="module")
def hosts(service, host_servers) -> dict:
    base, dead = service["base"], host_servers["dead"]
    tag = f'<script src="{base}/widget.js" data-endpoint="{base}" data-title="ถามเอกสาร" defer></script>'
    pages = {
        "/": host_page(tag),
        "/plain": host_page(""),
        "/twice": host_page(tag + tag),
        # The site serves its own copy of widget.js, and the service behind it is down.
        "/down": host_page(f'<script src="/widget.js" data-endpoint="http://127.0.0.1:{dead}" defer></script>'),
        "/en": host_page(
            f'<script src="{base}/widget.js" data-endpoint="{base}" data-lang="en" data-accent="#ffd400" '
            'data-position="left" defer></script>',
            css="body { background: #fff; }",
        ),
    }
    for server in host_servers.values():
        if isinstance(server, ThreadingHTTPServer):
            server.pages = pages
    return {name: origin(host_servers[name]) for name in ("allowed", "blocked")}


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport=DESKTOP, locale="th-TH")
    yield context
    context.close()


def widget(page):
    return page.locator("[data-khamtop-widget]")


def focused(page) -> str:
    """What has keyboard focus, looking into the widget's shadow root: 'host', or the element's role/id."""
    return page.evaluate(
        """() => {
            const host = document.querySelector('[data-khamtop-widget]');
            if (document.activeElement !== host) return 'host:' + document.activeElement.tagName;
            const el = host.shadowRoot.activeElement;
            return el ? (el.id || el.className) : 'nothing';
        }"""
    )


def open_with_keyboard(page) -> None:
    for _ in range(5):
        page.keyboard.press("Tab")
        if focused(page) == "launcher":
            break
    assert focused(page) == "launcher", "the launcher is reachable with Tab"
    ring = widget(page).locator(".launcher").evaluate("el => getComputedStyle(el).outlineStyle")
    assert ring == "solid", "keyboard focus is visible"
    page.keyboard.press("Enter")
    assert widget(page).get_by_role("dialog").is_visible()
    assert focused(page) == "kt-q", "opening the panel puts the cursor in the question box"


def ask(page, question: str = QUESTION) -> dict:
    """Type the question and press Enter; the service's JSON answer."""
    page.keyboard.type(question)
    with page.expect_response(lambda r: r.url.endswith("/v1/ask"), timeout=30_000) as response:
        page.keyboard.press("Enter")
    page.wait_for_selector("[data-khamtop-widget] >> ol li", timeout=30_000)
    return response.value.json()


def test_keyboard_user_asks_in_thai_and_gets_the_answer_and_cited_sources(context, hosts, service):
    page = context.new_page()
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(hosts["allowed"] + "/")
    open_with_keyboard(page)
    body = ask(page)

    w = widget(page)
    assert body["answer"] is not None
    assert w.locator("blockquote").inner_text() == body["answer"]["text"]
    titles = w.locator("ol li a.src").all_inner_texts()
    expected = [p["citation"]["title"] for p in body["passages"]]
    assert [re.sub(r"\s*\(เปิดในแท็บใหม่\)$", "", t) for t in titles] == expected
    assert body["passages"][0]["citation"]["doc_id"] == ANSWER_DOC
    doc_title = httpx.get(f"{service['base']}/v1/documents/{ANSWER_DOC}").json()["title"]
    assert titles[0].startswith(doc_title)
    # Each source shows its highlighted sentence.
    assert w.locator("ol li").first.locator("mark").inner_text() == body["passages"][0]["highlight"]["text"]
    # Nothing but the host page and the service was contacted (no CDN, no font download).
    assert {re.match(r"https?://[^/]+", u).group(0) for u in requests} == {hosts["allowed"], service["base"]}
    page.screenshot(path=ARTIFACTS / "desktop-answer.png")


def test_citation_link_opens_the_viewer_with_exactly_the_cited_text_highlighted_in_view(context, hosts, service):
    page = context.new_page()
    page.goto(hosts["allowed"] + "/")
    open_with_keyboard(page)
    body = ask(page)
    passage = body["passages"][1]  # not the first, so it is not at the top of the document either
    link = widget(page).locator("ol li a.src").nth(1)
    with context.expect_page() as opened:
        link.click()
    viewer = opened.value
    viewer.wait_for_load_state()

    c = passage["citation"]
    text = httpx.get(f"{service['base']}/v1/documents/{c['doc_id']}").json()["text"]
    mark = viewer.locator("mark#cited")
    assert mark.text_content() == text[c["char_start"] : c["char_end"]] == passage["text"]
    assert viewer.locator(".sentence").text_content() == passage["highlight"]["text"]
    assert viewer.locator("h1").inner_text() == c["title"]
    box = mark.bounding_box()
    assert 0 <= box["y"] < DESKTOP["height"], "the cited text is scrolled into view"
    viewer.screenshot(path=ARTIFACTS / "viewer.png")


def test_escape_closes_the_panel_and_returns_focus_to_the_launcher(context, hosts):
    page = context.new_page()
    page.goto(hosts["allowed"] + "/")
    open_with_keyboard(page)
    page.keyboard.press("Escape")
    assert not widget(page).get_by_role("dialog").is_visible()
    assert focused(page) == "launcher"
    assert widget(page).locator(".launcher").get_attribute("aria-expanded") == "false"


def test_widget_passes_an_accessibility_audit_with_an_answer_shown(context, hosts):
    from axe_playwright_python.sync_playwright import Axe

    page = context.new_page()
    page.goto(hosts["allowed"] + "/")
    open_with_keyboard(page)
    ask(page)
    results = Axe().run(page, context={"include": [["[data-khamtop-widget]"]]})
    assert results.violations_count == 0, results.generate_report()
    # Screen readers hear the answer and the count of sources from the status line, once.
    status = widget(page).get_by_role("status")
    status.filter(has_text="พบแหล่งอ้างอิง 5 รายการ").wait_for(timeout=5_000)
    assert status.inner_text().startswith("คำตอบ: ")


def test_host_page_styles_do_not_reach_the_widget_and_the_widget_adds_no_globals(context, hosts):
    page = context.new_page()
    page.goto(hosts["allowed"] + "/plain")
    before = set(page.evaluate("Object.keys(window)"))
    page.goto(hosts["allowed"] + "/")
    launcher = widget(page).locator(".launcher")
    launcher.wait_for()
    assert launcher.is_visible(), "the host page hides every button and div; not the widget's"
    font = launcher.evaluate("el => getComputedStyle(el).fontFamily")
    assert font.startswith('"Noto Sans Thai"') and "Comic" not in font
    assert launcher.evaluate("el => getComputedStyle(el).color") == "rgb(255, 255, 255)"
    assert set(page.evaluate("Object.keys(window)")) == before


def test_when_the_service_is_down_the_widget_says_so_and_offers_a_retry(context, hosts):
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(hosts["allowed"] + "/down")
    open_with_keyboard(page)
    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    message = widget(page).locator(".err")
    message.wait_for(timeout=15_000)
    assert "ติดต่อบริการตอบคำถามไม่ได้" in message.inner_text()
    retry = message.get_by_role("button", name="ลองใหม่")
    assert retry.is_visible()
    assert page.locator("a").first.is_visible(), "the host page still works"
    page.screenshot(path=ARTIFACTS / "desktop-service-down.png")
    assert errors == []


def test_retry_succeeds_once_the_service_is_reachable_again(context, hosts):
    page = context.new_page()
    page.goto(hosts["allowed"] + "/")
    page.route("**/v1/ask", lambda route: route.abort("connectionrefused"))
    open_with_keyboard(page)
    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    widget(page).locator(".err").wait_for(timeout=15_000)
    page.unroute("**/v1/ask")
    widget(page).get_by_role("button", name="ลองใหม่").click()
    widget(page).locator("ol li").first.wait_for(timeout=30_000)
    assert widget(page).locator(".err").count() == 0


def test_a_site_not_on_the_allow_list_is_refused_by_the_browser(context, hosts):
    page = context.new_page()
    console = []
    page.on("console", lambda m: console.append(m.text))
    page.goto(hosts["blocked"] + "/")
    open_with_keyboard(page)
    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    widget(page).locator(".err").wait_for(timeout=15_000)
    assert widget(page).locator("ol li").count() == 0
    assert any("blocked by CORS policy" in line for line in console), console


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=MOBILE, locale="th-TH", has_touch=True, is_mobile=True)
    yield context
    context.close()


def test_on_a_phone_the_panel_fills_the_screen_and_keeps_focus_inside(phone, hosts):
    page = phone.new_page()
    page.goto(hosts["allowed"] + "/")
    widget(page).locator(".launcher").tap()
    panel = widget(page).get_by_role("dialog")
    box = panel.bounding_box()
    assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, MOBILE["width"], MOBILE["height"])
    assert panel.get_attribute("aria-modal") == "true"
    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    widget(page).locator("ol li").first.wait_for(timeout=30_000)
    for _ in range(30):  # the close button, the conversation, 5+ links, the question box, the button
        page.keyboard.press("Tab")
        assert focused(page) != "host:A" and not focused(page).startswith("host:"), "focus left the panel"
    page.screenshot(path=ARTIFACTS / "mobile-answer.png")


def test_english_labels_left_position_and_a_light_accent_keep_text_readable(context, hosts):
    page = context.new_page()
    page.goto(hosts["allowed"] + "/en")
    launcher = widget(page).locator(".launcher")
    launcher.wait_for()
    assert launcher.inner_text() == "Ask our documents"
    assert launcher.bounding_box()["x"] < DESKTOP["width"] / 2
    # Yellow accent: white text would fail contrast, so the text turns dark.
    assert launcher.evaluate("el => getComputedStyle(el).color") == "rgb(31, 35, 40)"
    launcher.click()
    assert widget(page).get_by_role("textbox", name="Your question").is_visible()
    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    widget(page).locator("ol li").first.wait_for(timeout=30_000)
    assert widget(page).get_by_role("heading", name=re.compile(r"^Sources \(\d+\)$")).is_visible()
    page.screenshot(path=ARTIFACTS / "desktop-english-accent.png")


def test_demo_page_works_from_the_service_itself_under_its_strict_content_security_policy(context, service):
    page = context.new_page()
    problems = []
    page.on("console", lambda m: problems.append(f"{m.text} {m.location['url']}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(service["base"] + "/widget/demo")
    open_with_keyboard(page)
    body = ask(page)
    assert body["passages"][0]["citation"]["doc_id"] == ANSWER_DOC
    assert [p for p in problems if not p.endswith("/favicon.ico")] == [], "no CSP violation, no script error"
    page.screenshot(path=ARTIFACTS / "demo-page.png")


def test_crafted_answers_render_as_text_with_highlights_on_the_right_characters(context, hosts):
    """HTML in titles and text stays text; offsets count code points (emoji before the sentence);
    a passage without a highlight, and an answer whose passage is not listed, still render."""
    text = "😀😀😀 ก่อน <img src=x onerror=alert(1)> ประโยคที่ตอบ หลัง"
    sentence = "ประโยคที่ตอบ"
    start = 100 + text.index(sentence)  # code points, as the service counts: JS's slice counts 😀 as two
    body = {
        "question": "q",
        "mode": "hybrid",
        "no_answer": False,
        "confidence": 1.0,
        "expanded_with": [],
        "took_ms": 1,
        "answer": {
            "text": sentence,
            "passage_rank": 9,
            "score": 1.0,
            "citation": {
                "doc_id": "laws/ร่าง พ.ร.บ.",
                "title": "<b>ร่าง</b>",
                "source_url": None,
                "char_start": start,
                "char_end": start + len(sentence),
            },
        },
        "passages": [
            {
                "rank": 1,
                "score": 0.9,
                "text": text,
                "citation": {
                    "doc_id": "laws/ร่าง พ.ร.บ.",
                    "title": "<img src=x onerror=alert(2)>",
                    "source_url": None,
                    "char_start": 100,
                    "char_end": 100 + len(text),
                },
                "highlight": {"char_start": start, "char_end": start + len(sentence), "text": sentence, "score": 1.0},
            },
            {
                "rank": 2,
                "score": 0.8,
                "text": "ไม่มีประโยคเด่น",
                "highlight": None,
                "citation": {"doc_id": "b", "title": "บ", "source_url": None, "char_start": 0, "char_end": 15},
            },
        ],
    }
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.route("**/v1/ask", lambda route: route.fulfill(json=body, headers={"Access-Control-Allow-Origin": "*"}))
    page.goto(hosts["allowed"] + "/")
    open_with_keyboard(page)
    page.keyboard.type("คำถาม")
    page.keyboard.press("Enter")
    w = widget(page)
    w.locator("ol li").nth(1).wait_for(timeout=10_000)
    assert w.locator("img").count() == 0 and dialogs == []
    first = w.locator("ol li").first
    assert first.locator("a.src").inner_text().startswith("<img src=x onerror=alert(2)>")
    assert first.locator("mark").inner_text() == sentence
    assert w.locator("ol li").nth(1).locator(".snip").inner_text() == "ไม่มีประโยคเด่น"
    href = first.locator("a.src").get_attribute("href")
    assert "/documents/laws/%E0%B8%A3" in href, "each path segment encoded, the slash kept"
    assert w.locator("blockquote").inner_text() == sentence


def test_the_tag_twice_on_a_page_gives_one_widget(context, hosts):
    page = context.new_page()
    page.goto(hosts["allowed"] + "/twice")
    widget(page).first.locator(".launcher").wait_for()
    page.wait_for_load_state("load")
    assert widget(page).count() == 1


def test_keys_typed_into_the_widget_do_not_reach_the_host_pages_shortcuts(context, hosts):
    page = context.new_page()
    page.goto(hosts["allowed"] + "/")
    page.evaluate("window.__keys = []; document.addEventListener('keydown', e => window.__keys.push(e.key))")
    open_with_keyboard(page)
    page.evaluate("window.__keys = []")
    page.keyboard.type("k/ ถาม")
    assert page.evaluate("window.__keys") == []


def test_the_api_docs_page_renders_offline_under_its_own_policy(context, service):
    # Every request the page makes must go to the service itself: no CDN, as in an offline site.
    base = service["base"]
    elsewhere, violations = [], []
    page = context.new_page()
    page.on("request", lambda r: None if r.url.startswith(base) else elsewhere.append(r.url))
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(base + "/docs")
    page.locator(".opblock-summary-path", has_text="/v1/ask").first.wait_for(timeout=10_000)
    page.screenshot(path=str(ARTIFACTS / "api-docs.png"))
    assert elsewhere == [] and violations == []
