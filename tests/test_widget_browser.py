"""The chat widget in a real browser (Debian's headless Chromium, driven by Playwright).

The service runs in its own process on loopback with the real model; the host pages are served
from other ports, so every call the widget makes is a real cross-origin request. The answer's
words come from a second service, in this process, that reads with a fake reader. Screenshots go
to test-artifacts/widget/ (or $KHAMTOP_ARTIFACTS/widget/).
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import uvicorn

from eval.live import free_port, wait_ready
from eval.live import live_service as live
from service.app import create_app
from service.settings import PROJECT_ROOT, Settings
from service.web import WIDGET_JS
from tests.fakes import FakeEmbedder, FakeReader

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
READER_ANSWER = "4 รางวัล"  # what the fake reader points at
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
    folder = tmp_path_factory.mktemp("widget-serve")
    questions = folder / "questions.sqlite3"
    with live(
        real_index,
        log=folder / "serve.log",
        KHAMTOP_MODELS_DIR=str(real_model_dir.parent),
        KHAMTOP_CORS_ORIGINS=origin(host_servers["allowed"]),
        KHAMTOP_QUESTION_LOG_PATH=str(questions),
    ) as svc:
        yield {"base": svc.base_url, "questions": questions}


@pytest.fixture(scope="module")
def reading_service(tmp_path_factory, _fake_index_once) -> Iterator[str]:
    """The service with a (fake) reader and the fake embedder, under uvicorn in this process; its
    own demo page hosts the widget. Its base URL."""
    home = tmp_path_factory.mktemp("widget-reader")
    shutil.copytree(_fake_index_once, home / "index")
    settings = Settings(home=home, index_dir=home / "index", reader=True, rate_limit_per_minute=0, reload_interval_s=0)
    app = create_app(
        settings,
        embedder_factory=lambda _config: FakeEmbedder(),
        reader_factory=lambda _config: FakeReader([READER_ANSWER]),
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.config.port}"
    wait_ready(base, 30)
    yield base
    server.should_exit = True
    thread.join(10)


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
    assert w.locator("blockquote").inner_text() == body["answer"]["sentence"]["text"]
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


def text_before(locator, inner: str) -> str:
    """The text of ``locator`` before its ``inner`` element (a CSS selector)."""
    return locator.evaluate(
        """(el, inner) => {
            const range = document.createRange();
            range.setStart(el, 0);
            range.setEndBefore(el.querySelector(inner));
            return range.toString();
        }""",
        inner,
    )


def test_with_a_reader_the_answers_words_are_bold_in_their_sentence_and_in_the_viewer(context, reading_service):
    base = reading_service
    page = context.new_page()
    page.goto(base + "/widget/demo")
    open_with_keyboard(page)
    body = ask(page)
    answer = body["answer"]
    assert body["read"] is True and answer["text"] == READER_ANSWER
    c, s = answer["citation"], answer["sentence"]
    text = httpx.get(f"{base}/v1/documents/{c['doc_id']}").json()["text"]

    # The answer box: the sentence, the reader's words in it bold, where the offsets put them.
    w = widget(page)
    quote = w.locator(".ans blockquote")
    assert quote.locator("strong").count() == 1
    bold = quote.locator("strong").text_content()
    assert bold == text[answer["char_start"] : answer["char_end"]] == READER_ANSWER
    assert quote.text_content() == s["text"] == text[s["char_start"] : s["char_end"]]
    assert text_before(quote, "strong") == text[s["char_start"] : answer["char_start"]]
    assert quote.locator("strong").evaluate("el => getComputedStyle(el).fontWeight") == "700"
    # Screen readers hear the words, not the whole sentence.
    w.get_by_role("status").filter(has_text="คำตอบ: " + READER_ANSWER).wait_for(timeout=5_000)

    # Each source: its sentence marked, the reader's span in it bold, and a link that says both.
    items = w.locator("ol li")
    spans = 0
    for i, passage in enumerate(body["passages"]):
        h = passage["highlight"]
        item = items.nth(i)
        href = item.locator("a.src").get_attribute("href")
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(href).query)
        if h and h["span"]:
            spans += 1
            assert item.locator("mark strong").text_content() == h["span"]["text"]
            assert item.locator("mark").text_content() == h["text"]
            assert query["span_start"] == [str(h["span"]["char_start"])]
            assert query["span_end"] == [str(h["span"]["char_end"])]
        else:
            assert item.locator("mark strong").count() == 0 and "span_start" not in query
    assert spans >= 1 and items.first.locator("mark strong").text_content() == READER_ANSWER
    page.screenshot(path=ARTIFACTS / "desktop-reader-answer.png")

    # The answer's link: the viewer at the passage, the sentence marked, the words in it.
    with context.expect_page() as opened:
        w.locator(".ans a").click()
    viewer = opened.value
    viewer.wait_for_load_state()
    assert viewer.locator("mark#cited").text_content() == text[c["char_start"] : c["char_end"]]
    assert viewer.locator("mark#cited .sentence").text_content() == s["text"]
    assert viewer.locator("mark#cited .sentence strong.answer").text_content() == answer["text"]
    assert (
        text_before(viewer.locator("mark#cited .sentence"), "strong.answer")
        == text[s["char_start"] : answer["char_start"]]
    )
    viewer.screenshot(path=ARTIFACTS / "viewer-answer.png")


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


def test_a_keyboard_user_says_an_answer_did_not_help_and_why_once(context, hosts, service):
    import sqlite3

    from axe_playwright_python.sync_playwright import Axe

    page = context.new_page()
    page.goto(hosts["allowed"] + "/")
    open_with_keyboard(page)
    body = ask(page)
    assert body["feedback_token"]
    w = widget(page)
    rating = w.get_by_role("group", name="คำตอบนี้มีประโยชน์ไหม")
    not_helpful = rating.get_by_role("button", name="ไม่มีประโยชน์")
    not_helpful.focus()
    page.keyboard.press("Enter")
    assert not_helpful.get_attribute("aria-pressed") == "true"
    assert focused(page).startswith("kt-c-"), "the comment box takes the focus"
    results = Axe().run(page, context={"include": [["[data-khamtop-widget]"]]})
    assert results.violations_count == 0, results.generate_report()
    page.keyboard.type("อยากทราบจำนวนเงินรางวัล โทร 0812345678")
    page.screenshot(path=ARTIFACTS / "feedback-comment.png")
    send = rating.get_by_role("button", name="ส่งความคิดเห็น")
    ink, paper = send.evaluate("b => [getComputedStyle(b).color, getComputedStyle(b).backgroundColor]")
    assert ink != paper, "the send button's words are visible (axe missed white on white once)"
    page.keyboard.press("Tab")
    with page.expect_response(lambda r: r.url.endswith("/v1/feedback")) as sent:
        page.keyboard.press("Enter")
    assert sent.value.status == 204
    w.get_by_text("ขอบคุณสำหรับความคิดเห็น").first.wait_for(timeout=5_000)
    assert rating.get_by_role("button").count() == 0, "one vote: the buttons are gone"
    page.screenshot(path=ARTIFACTS / "feedback-sent.png")
    # The vote reached the log, on that answer, masked; the token cannot vote again.
    with sqlite3.connect(service["questions"]) as db:
        helpful, comment = db.execute("SELECT helpful, comment FROM questions WHERE comment IS NOT NULL").fetchone()
    assert helpful == 0 and comment == "อยากทราบจำนวนเงินรางวัล โทร [เบอร์โทรศัพท์]"
    again = httpx.post(f"{service['base']}/v1/feedback", json={"token": body["feedback_token"], "helpful": True})
    assert again.status_code == 404


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
    """HTML in titles and text stays text; offsets count code points (emoji before the sentence and
    before the answer's words in it); a passage without a highlight, and an answer whose passage is
    not listed, still render; offsets that do not point at the words leave them unmarked."""
    text = "😀😀😀 ก่อน <img src=x onerror=alert(1)> ประโยค😀ที่ตอบ หลัง"
    sentence, words = "ประโยค😀ที่ตอบ", "ที่ตอบ"
    start = 100 + text.index(sentence)  # code points, as the service counts: JS's slice counts 😀 as two
    at = 100 + text.index(words)
    span = {"char_start": at, "char_end": at + len(words), "text": words}
    citation = {
        "doc_id": "laws/ร่าง พ.ร.บ.",
        "title": "<img src=x onerror=alert(2)>",
        "source_url": None,
        "char_start": 100,
        "char_end": 100 + len(text),
    }
    body = {
        "question": "q",
        "mode": "hybrid",
        "no_answer": False,
        "confidence": 1.0,
        "read": True,
        "expanded_with": [],
        "took_ms": 1,
        "answer": {
            **span,
            "sentence": {"char_start": start, "char_end": start + len(sentence), "text": sentence},
            "passage_rank": 9,
            "score": 1.0,
            "citation": {**citation, "title": "<b>ร่าง</b>"},
        },
        "passages": [
            {
                "rank": 1,
                "score": 0.9,
                "text": text,
                "citation": citation,
                "highlight": {
                    "char_start": start,
                    "char_end": start + len(sentence),
                    "text": sentence,
                    "score": 1.0,
                    "span": span,
                },
                "reader_score": 5.0,
            },
            {
                "rank": 2,
                "score": 0.8,
                "text": "ไม่มีประโยคเด่น",
                "highlight": None,
                "citation": {"doc_id": "b", "title": "บ", "source_url": None, "char_start": 0, "char_end": 15},
                "reader_score": None,
            },
        ],
    }
    # The second answer's offsets are one character off: the words' before, the span's after.
    off = copy.deepcopy(body)
    off["answer"].update(char_start=at - 1, char_end=at - 1 + len(words))
    off["passages"][0]["highlight"]["span"].update(char_start=at + 1, char_end=at + 1 + len(words))
    bodies = [body, off]
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.route(
        "**/v1/ask", lambda route: route.fulfill(json=bodies.pop(0), headers={"Access-Control-Allow-Origin": "*"})
    )
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
    assert first.locator("mark strong").inner_text() == words
    assert w.locator("ol li").nth(1).locator(".snip").inner_text() == "ไม่มีประโยคเด่น"
    href = first.locator("a.src").get_attribute("href")
    assert "/documents/laws/%E0%B8%A3" in href, "each path segment encoded, the slash kept"
    assert f"&span_start={at}&span_end={at + len(words)}" in href
    quote = w.locator(".ans blockquote")
    assert quote.inner_text() == sentence and quote.locator("strong").inner_text() == words
    assert w.locator(".ans a").inner_text().startswith("<b>ร่าง</b>")
    assert f"?start=100&end={100 + len(text)}&sentence_start={start}" in w.locator(".ans a").get_attribute("href")

    page.keyboard.type("คำถามอีก")
    page.keyboard.press("Enter")
    second = w.locator(".a").nth(1)
    second.locator("ol li").first.wait_for(timeout=10_000)
    assert second.locator("blockquote").inner_text() == words, "the words alone"
    assert second.locator("strong").count() == 0
    assert second.locator("ol li mark").first.inner_text() == sentence
    assert "span_start" not in second.locator(".ans a").get_attribute("href")


def test_an_unsure_answer_is_shown_as_the_likely_sentence_without_bold_words(context, hosts):
    """The ladder's middle rung: ``answer.kind`` ``sentence`` is headed as the sentence most likely
    to answer, unbolded; ``words`` keeps the plain "answer" heading and the bold words."""
    text = "การประชุมผู้นำ ACMECS ครั้งที่ ๘ เมื่อวันที่ ๑๕-๑๖ มิถุนายน ๒๕๖๑ ณ กรุงเทพ"
    words = "กรุงเทพ"
    at = text.index(words)
    citation = {"doc_id": "d", "title": "ท", "source_url": None, "char_start": 0, "char_end": len(text)}
    sentence = {"char_start": 0, "char_end": len(text), "text": text}
    passage = {
        "rank": 1,
        "score": 0.9,
        "text": text,
        "citation": citation,
        "highlight": {**sentence, "score": 1.0, "span": {"char_start": at, "char_end": at + len(words), "text": words}},
        "reader_score": -4.3,
    }
    base = {
        "question": "q",
        "mode": "hybrid",
        "no_answer": False,
        "confidence": -4.3,
        "read": True,
        "expanded_with": [],
        "took_ms": 1,
        "passages": [passage],
    }
    unsure = {
        **base,
        "answer": {
            "kind": "sentence",
            **sentence,
            "sentence": sentence,
            "passage_rank": 1,
            "score": -4.3,
            "citation": citation,
        },
    }
    sure = {
        **base,
        "answer": {
            "kind": "words",
            "char_start": at,
            "char_end": at + len(words),
            "text": words,
            "sentence": sentence,
            "passage_rank": 1,
            "score": 2.0,
            "citation": citation,
        },
    }
    bodies = [unsure, sure]
    page = context.new_page()
    page.route(
        "**/v1/ask", lambda route: route.fulfill(json=bodies.pop(0), headers={"Access-Control-Allow-Origin": "*"})
    )
    page.goto(hosts["allowed"] + "/")
    open_with_keyboard(page)
    page.keyboard.type("จัดที่ไหน")
    page.keyboard.press("Enter")
    w = widget(page)
    first = w.locator(".a").first
    first.locator("ol li").first.wait_for(timeout=10_000)
    assert first.locator(".ans .lbl").inner_text().startswith("ประโยคที่น่าจะตอบคำถาม")
    assert first.locator(".ans blockquote").inner_text() == text
    assert first.locator(".ans blockquote strong").count() == 0
    page.keyboard.type("จัดที่ไหนอีก")
    page.keyboard.press("Enter")
    second = w.locator(".a").nth(1)
    second.locator("ol li").first.wait_for(timeout=10_000)
    assert second.locator(".ans .lbl").inner_text() == "คำตอบ"
    assert second.locator(".ans blockquote strong").inner_text() == words


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
