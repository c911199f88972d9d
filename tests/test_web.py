"""The widget's script, its demo page, the document viewer and CORS, in process (fake embedder).

The widget itself is driven in a real browser in test_widget_browser.py.
"""

from __future__ import annotations

import gzip
import re
from html import unescape

import pytest
from pydantic import SecretStr, ValidationError

from corpus.document import Document
from index.encoders.base import ModelLoadError
from service import viewer
from service.settings import Settings
from service.web import WIDGET_JS
from tests.fakes import FakeReader
from tests.helpers import wait_ready

# The README states the gzipped size; this keeps it honest and the script small.
WIDGET_GZIP_BUDGET = 10 * 1024
HOST = "http://127.0.0.1:9001"
QUESTION = "ไทยได้รับรางวัล ASEAN ICT Award กี่รางวัล"
ANSWER = "4 รางวัล"


def cited_text(page: str) -> str:
    match = re.search(r'<mark id="cited"[^>]*>(.*?)</mark>', page, re.S)
    assert match, "no highlighted span on the page"
    return unescape(re.sub(r"<[^>]+>", "", match.group(1)))


def test_widget_script_is_served_as_javascript_and_stays_small(client):
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.text == WIDGET_JS.read_text(encoding="utf-8")
    assert len(gzip.compress(WIDGET_JS.read_bytes(), 9)) <= WIDGET_GZIP_BUDGET


def test_widget_script_goes_out_gzipped_to_browsers_that_accept_it(client):
    response = client.get("/widget.js", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"


def test_widget_loads_nothing_from_other_hosts():
    code = re.sub(r"/\*.*?\*/", "", WIDGET_JS.read_text(encoding="utf-8"), flags=re.S)  # the usage comment
    assert not re.search(r"https?://", code)
    assert "@import" not in code and "@font-face" not in code


def test_viewer_highlights_exactly_the_cited_characters(client):
    body = client.post("/v1/ask", json={"question": "ไทยได้รับรางวัล ASEAN ICT Award กี่รางวัล", "top_k": 3}).json()
    for passage in body["passages"]:
        c = passage["citation"]
        page = client.get(f"/documents/{c['doc_id']}", params={"start": c["char_start"], "end": c["char_end"]})
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert cited_text(page.text) == passage["text"]
        assert f"<h1><bdi>{c['title']}</bdi></h1>" in page.text


def test_viewer_marks_the_answering_sentence_inside_the_cited_passage(client):
    body = client.post("/v1/ask", json={"question": "ไทยได้รับรางวัล ASEAN ICT Award กี่รางวัล", "top_k": 1}).json()
    (passage,) = body["passages"]
    c, h = passage["citation"], passage["highlight"]
    page = client.get(
        f"/documents/{c['doc_id']}",
        params={
            "start": c["char_start"],
            "end": c["char_end"],
            "sentence_start": h["char_start"],
            "sentence_end": h["char_end"],
        },
    ).text
    assert cited_text(page) == passage["text"]
    sentence = re.search(r'<span class="sentence"[^>]*>(.*?)</span>', page, re.S)
    assert unescape(sentence.group(1)) == h["text"]


def answer_in(page: str) -> re.Match:
    """The answer's words on a viewer page: a strong inside the sentence inside the cited text."""
    match = re.search(
        r'<mark id="cited"[^>]*>[^<]*<span class="sentence"[^>]*>([^<]*)<strong class="answer" title="([^"]*)">'
        r"([^<]*)</strong>([^<]*)</span>[^<]*</mark>",
        page,
    )
    assert match, "no answer marked inside the sentence inside the cited text"
    return match


def test_viewer_marks_the_answer_inside_the_sentence_inside_the_cited_passage(make_client):
    client = make_client(reader=FakeReader([ANSWER]))
    body = client.post("/v1/ask", json={"question": QUESTION, "top_k": 3}).json()
    answer = body["answer"]
    c, s = answer["citation"], answer["sentence"]
    assert body["read"] and answer["text"] == ANSWER != s["text"]
    params = {
        "start": c["char_start"],
        "end": c["char_end"],
        "sentence_start": s["char_start"],
        "sentence_end": s["char_end"],
        "span_start": answer["char_start"],
        "span_end": answer["char_end"],
    }
    page = client.get(f"/documents/{c['doc_id']}", params=params).text
    before, title, words, after = (unescape(g) for g in answer_in(page).groups())
    assert words == ANSWER
    assert before + words + after == s["text"]
    text = client.get(f"/v1/documents/{c['doc_id']}").json()["text"]
    assert before == text[s["char_start"] : answer["char_start"]]
    assert cited_text(page) == text[c["char_start"] : c["char_end"]]
    assert title == "คำตอบ"
    english = client.get(f"/documents/{c['doc_id']}", params={**params, "lang": "en"}).text
    assert answer_in(english).group(2) == "The answer"


def test_viewer_escapes_the_answer_and_marks_it_only_inside_the_sentence():
    text = "ก่อน ประโยค <b>คำ&ตอบ</b> จบ หลัง"
    doc = Document("x", text, "ชื่อ")
    words = "<b>คำ&ตอบ</b>"
    w = viewer.Span(text.index(words), text.index(words) + len(words))
    sentence = viewer.Span(text.index("ประโยค"), text.index(" หลัง"))
    cited = viewer.Span(0, len(text))
    page = viewer.render_document(doc, cited, sentence, "en", w)
    assert "<b>" not in page
    assert answer_in(page).group(3) == "&lt;b&gt;คำ&amp;ตอบ&lt;/b&gt;"
    assert cited_text(page) == text
    # An answer outside the sentence, or without one, is not marked; the sentence still is.
    for outside in (viewer.Span(0, 4), viewer.Span(sentence.start, sentence.end + 2)):
        page = viewer.render_document(doc, cited, sentence, "en", outside)
        assert 'class="answer"' not in page and 'class="sentence"' in page
        assert cited_text(page) == text
    assert 'class="answer"' not in viewer.render_document(doc, cited, None, "en", w)


def test_viewer_forbids_scripts_and_shows_the_whole_document_without_offsets(client):
    doc = client.get("/v1/documents/adgmin-2-results-2022").json()
    page = client.get("/documents/adgmin-2-results-2022?lang=en")
    assert "script-src" not in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "<mark" not in page.text
    assert f"The whole document, {len(doc['text'])} characters" in page.text
    assert '<html lang="en">' in page.text


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("start=10", "give both start and end"),
        ("start=50&end=10", "need 0 <= start < end"),
        ("start=0&end=99999999", "need 0 <= start < end"),
        ("start=-1&end=5", "must be a character offset"),
        ("start=abc&end=5", "must be a character offset"),
        ("start=๑&end=5", "must be a character offset"),
        ("start=0&end=5&sentence_start=3", "sentence: give both"),
        ("start=0&end=50&sentence_start=0&sentence_end=20&span_start=3", "span: give both"),
        ("start=0&end=50&sentence_start=0&sentence_end=20&span_end=9", "span: give both"),
        ("start=0&end=50&sentence_start=0&sentence_end=20&span_start=9&span_end=9", "span: need 0 <= start < end"),
        ("start=0&end=50&sentence_start=0&sentence_end=20&span_start=5&span_end=99999999", "span: need 0 <= start"),
        ("start=0&end=50&sentence_start=0&sentence_end=20&span_start=-1&span_end=5", "span_start must be a"),
        ("start=0&end=50&sentence_start=0&sentence_end=20&span_start=3&span_end=x", "span_end must be a"),
    ],
)
def test_viewer_rejects_offsets_that_are_not_characters_of_the_document(client, query, words):
    response = client.get(f"/documents/adgmin-2-results-2022?{query}")
    assert response.status_code == 400
    assert words in unescape(response.text)
    assert 'role="alert"' in response.text


def test_viewer_says_which_document_is_missing(client):
    response = client.get("/documents/no-such-doc?start=0&end=5")
    assert response.status_code == 404
    assert "no document with id &#x27;no-such-doc&#x27;" in response.text


def test_viewer_says_why_when_the_service_is_not_ready(make_client):
    def broken(_config):
        raise ModelLoadError("model folder is missing")

    key = "admin-key-0123456789abcdef"  # the reason in full is for the admin; anyone gets it without paths
    client = make_client(embedder_factory=broken, ready=False, admin_key=SecretStr(key))
    wait_ready(client)
    response = client.get("/documents/adgmin-2-results-2022", headers={"X-API-Key": key})
    assert response.status_code == 503
    assert "model folder is missing" in response.text


def test_viewer_escapes_document_text_and_title():
    doc = Document(
        "x", 'ก่อน <script>alert("x")</script> หลัง', 'ชื่อ <img src=x onerror="alert(1)">', "javascript:alert(1)"
    )
    cited = '<script>alert("x")</script>'
    start = doc.text.index(cited)
    page = viewer.render_document(doc, viewer.Span(start, start + len(cited)), None, "th")
    assert "<script>" not in page and "<img" not in page
    assert "javascript:" not in page, "only http(s) source links are shown"
    assert cited_text(page) == cited


def test_demo_page_embeds_the_widget_from_this_service(client):
    response = client.get("/widget/demo")
    assert response.status_code == 200
    assert '<script src="../widget.js" data-title=' in response.text, "the widget finds the service from its own URL"
    assert 'data-endpoint="http://testserver"' in response.text, "the snippet to copy names this service"
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "style-src 'self';" in policy, "no inline script or style"
    assert client.get("/widget/demo.css").headers["content-type"] == "text/css; charset=utf-8"


def test_without_an_allow_list_other_origins_get_no_cors_permission(client):
    response = client.post("/v1/ask", json={"question": "รางวัล"}, headers={"Origin": HOST})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_an_allowed_origin_may_call_the_api_from_a_browser(make_client):
    client = make_client(cors_origins=[HOST])
    preflight = client.options(
        "/v1/ask",
        headers={
            "Origin": HOST,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == HOST
    response = client.post("/v1/ask", json={"question": "รางวัล"}, headers={"Origin": HOST})
    assert response.headers["access-control-allow-origin"] == HOST
    assert "access-control-allow-credentials" not in response.headers

    other = client.options(
        "/v1/ask",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers


def test_cors_origins_setting_reads_a_comma_separated_list(monkeypatch):
    monkeypatch.setenv("KHAMTOP_CORS_ORIGINS", "https://WWW.Example.go.th/, http://127.0.0.1:9001")
    assert Settings().cors_origins == ["https://www.example.go.th", "http://127.0.0.1:9001"]


@pytest.mark.parametrize("bad", ["www.example.go.th", "https://example.go.th/path", "ftp://example.go.th"])
def test_cors_origins_setting_rejects_what_is_not_an_origin(monkeypatch, bad):
    monkeypatch.setenv("KHAMTOP_CORS_ORIGINS", bad)
    with pytest.raises(ValidationError, match="is not an origin"):
        Settings()
