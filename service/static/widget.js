/*! khamtop chat widget · one <script> tag, no dependencies, no globals.
 * <script src="https://host/widget.js" data-endpoint="https://host" data-title="ถามเรา"
 *         data-lang="th|en" data-accent="#0b5cad" data-position="right|left" data-top-k="5"
 *         data-key="SEARCH_KEY (only if the service needs one; it is public in the page)"
 *         data-collection="NAME (the collection to search; default: the service's)" defer></script>
 * Everything renders inside a Shadow DOM; text from the service is only ever set as textContent. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;

  var T = {
    th: {
      title: "ถามจากเอกสาร",
      open: "เปิดหน้าต่างถามคำถาม",
      close: "ปิดหน้าต่างถามคำถาม",
      intro: "พิมพ์คำถามเป็นภาษาไทยหรือภาษาอังกฤษ ระบบจะตอบจากเอกสารพร้อมบอกแหล่งที่มา",
      label: "คำถามของคุณ",
      placeholder: "เช่น ประเทศไทยได้รับรางวัลอะไรบ้าง",
      send: "ถาม",
      empty: "กรุณาพิมพ์คำถามก่อน",
      busy: "กำลังค้นหาคำตอบ…",
      answer: "คำตอบ",
      likely: "ประโยคที่น่าจะตอบคำถาม (ไม่แน่ใจคำตอบที่ตรงกว่านี้)",
      noAnswer: "ไม่พบประโยคที่ตอบคำถามนี้ได้ชัดเจน ข้อความที่ใกล้เคียงที่สุดคือ",
      none: "ไม่พบข้อความที่เกี่ยวข้องในเอกสาร",
      sources: "แหล่งอ้างอิง",
      chars: "อักขระที่",
      openDoc: "เปิดเอกสารตรงข้อความที่อ้างอิง",
      newTab: "(เปิดในแท็บใหม่)",
      down: "ขออภัย ขณะนี้ติดต่อบริการตอบคำถามไม่ได้ กรุณาลองใหม่อีกครั้ง",
      loading: "บริการกำลังเตรียมพร้อม กรุณาลองใหม่ในอีกสักครู่",
      busyServer: "ขณะนี้มีผู้ใช้จำนวนมาก กรุณารอสักครู่แล้วลองใหม่",
      bad: "ส่งคำถามนี้ไม่ได้: ",
      retry: "ลองใหม่",
      conversation: "บทสนทนา",
      found: "พบแหล่งอ้างอิง {n} รายการ",
      rate: "คำตอบนี้มีประโยชน์ไหม",
      helpful: "มีประโยชน์",
      notHelpful: "ไม่มีประโยชน์",
      comment: "บอกเราเพิ่มเติม (ไม่บังคับ)",
      sendFeedback: "ส่งความคิดเห็น",
      thanks: "ขอบคุณสำหรับความคิดเห็น",
      feedbackFailed: "ส่งความคิดเห็นไม่สำเร็จ",
    },
    en: {
      title: "Ask our documents",
      open: "Open the question window",
      close: "Close the question window",
      intro: "Ask in Thai or English. Answers come from our documents, with their sources.",
      label: "Your question",
      placeholder: "Ask about our documents…",
      send: "Ask",
      empty: "Please type a question first.",
      busy: "Looking for an answer…",
      answer: "Answer",
      likely: "The sentence most likely to answer (no exact words we are sure of)",
      noAnswer: "No sentence clearly answers this. The closest passages are:",
      none: "Nothing in the documents matches this question.",
      sources: "Sources",
      chars: "characters",
      openDoc: "Open the document at the cited text",
      newTab: "(opens in a new tab)",
      down: "Sorry, the answering service cannot be reached right now. Please try again.",
      loading: "The service is starting up. Please try again in a moment.",
      busyServer: "The service is busy. Please wait a moment and try again.",
      bad: "This question cannot be sent: ",
      retry: "Try again",
      conversation: "Conversation",
      found: "{n} sources found.",
      rate: "Was this answer helpful?",
      helpful: "Helpful",
      notHelpful: "Not helpful",
      comment: "Tell us more (optional)",
      sendFeedback: "Send feedback",
      thanks: "Thank you for your feedback.",
      feedbackFailed: "The feedback could not be sent.",
    },
  };

  var data = script.dataset;
  var lang = data.lang === "en" ? "en" : "th";
  var t = T[lang];
  var title = (data.title || t.title).slice(0, 80);
  var topK = Math.min(10, Math.max(1, parseInt(data.topK, 10) || 5));
  // A collection name as the service accepts it; anything else is left out (the service's default).
  var collection = /^[a-z][a-z0-9-]{0,39}$/.test(data.collection || "") ? data.collection : null;
  // The collection that answered (a key's own, when the tag names none): its viewer links are its.
  var answered = collection;
  var left = /left/.test(data.position || "");
  var endpoint = (function () {
    try {
      // Default: the folder widget.js was served from (a service behind a path prefix works too).
      var url = new URL(data.endpoint || ".", data.endpoint ? location.href : script.src);
      if (url.protocol !== "https:" && url.protocol !== "http:") return null;
      return url.href.replace(/\/+$/, "");
    } catch (e) {
      return null;
    }
  })();

  var STYLES =
    ':host{all:initial!important;display:block!important;position:static!important}' +
    '.kt{--accent:#0b5cad;--on-accent:#fff;--link:#0b5cad;font-family:"Noto Sans Thai","Noto Sans Thai UI",Sarabun,"Leelawadee UI",Leelawadee,Tahoma,"Sukhumvit Set",Thonburi,Loma,Garuda,system-ui,sans-serif;' +
    'font-size:16px;line-height:1.7;color:#1f2328;-webkit-text-size-adjust:100%}' +
    ':where(.kt *){box-sizing:border-box;font:inherit;color:inherit;margin:0}' +
    '.launcher{position:fixed;bottom:20px;right:20px;z-index:2147483000;display:flex;align-items:center;gap:8px;' +
    'padding:10px 18px;border:0;border-radius:999px;background:var(--accent);color:var(--on-accent);cursor:pointer;' +
    'box-shadow:0 4px 14px rgba(0,0,0,.25);font-weight:600}' +
    '.launcher svg{width:22px;height:22px;fill:currentColor;flex:none}' +
    '.left .launcher,.left .panel{right:auto;left:20px}' +
    '.panel{position:fixed;bottom:84px;right:20px;z-index:2147483001;width:400px;max-width:calc(100vw - 40px);' +
    'height:600px;max-height:calc(100vh - 110px);display:flex;flex-direction:column;background:#fff;' +
    'border:1px solid #c9d1d9;border-radius:14px;box-shadow:0 12px 40px rgba(0,0,0,.25);overflow:hidden}' +
    '.panel[hidden]{display:none}' +
    'header{display:flex;align-items:center;gap:8px;padding:10px 10px 10px 16px;background:var(--accent);color:var(--on-accent)}' +
    'h2{flex:1;font-size:17px;font-weight:600;line-height:1.5}' +
    '.close{width:36px;height:36px;border:0;border-radius:8px;background:transparent;color:var(--on-accent);cursor:pointer;font-size:24px;line-height:1}' +
    '.log{flex:1;overflow-y:auto;padding:14px 16px;display:flex;flex-direction:column;gap:12px}' +
    '.intro{color:#4b535c;font-size:15px}' +
    '.q{align-self:flex-end;max-width:85%;padding:8px 12px;border-radius:12px 12px 2px 12px;background:#eef2f6;white-space:pre-wrap;overflow-wrap:anywhere}' +
    '.a{display:flex;flex-direction:column;gap:8px}' +
    '.ans{padding:10px 12px;border-left:4px solid var(--accent);background:#f6f8fa;border-radius:4px}' +
    '.lbl{font-size:13px;font-weight:600;color:#4b535c}' +
    '.ans blockquote{font-size:16px;overflow-wrap:anywhere}' +
    'h3{font-size:14px;font-weight:600;color:#4b535c}' +
    'ol{padding:0;list-style:none;display:flex;flex-direction:column;gap:8px}' +
    'li{padding:8px 10px;border:1px solid #d8dee4;border-radius:8px}' +
    'a{color:var(--link);text-decoration:underline;text-underline-offset:3px;overflow-wrap:anywhere}' +
    '.src{font-weight:600}' +
    '.meta{font-size:13px;color:#4b535c}' +
    '.snip{font-size:15px;overflow-wrap:anywhere;margin-top:4px}' +
    'mark{background:#fff3b0;color:inherit;border-radius:2px}' +
    'strong{font-weight:700}' +
    '.err{padding:10px 12px;border:1px solid #d1242f;border-radius:8px;background:#fff5f5;color:#82071e}' +
    '.err button,.send{margin-top:8px;padding:6px 14px;border:0;border-radius:8px;background:var(--accent);color:var(--on-accent);cursor:pointer;font-weight:600}' +
    'form{display:flex;gap:8px;align-items:flex-end;padding:10px 12px;border-top:1px solid #d8dee4}' +
    'textarea{flex:1;resize:none;min-height:46px;max-height:140px;padding:9px 10px;border:1px solid #6e7781;border-radius:8px;background:#fff;line-height:1.6}' +
    '.send{margin:0;height:46px;padding:0 18px}' +
    '.hint{font-size:13px;color:#82071e;padding:0 12px 8px}' +
    '.fb{border:0;padding:0;display:flex;flex-wrap:wrap;align-items:center;gap:6px;font-size:14px}' +
    '.fb legend{float:left;margin-right:4px;color:#4b535c}' +
    '.fb button{padding:4px 12px;border:1px solid #6e7781;border-radius:999px;background:#fff;cursor:pointer}' +
    '.fb button[aria-pressed=true]{background:var(--accent);color:var(--on-accent);border-color:var(--accent)}' +
    '.fb textarea{flex-basis:100%;min-height:60px}' +
    '.fb .send{height:auto;padding:6px 14px;border:0;background:var(--accent);color:var(--on-accent)}' +
    '.sr{position:absolute!important;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}' +
    ':focus{outline:none}' +
    ':focus-visible{outline:3px solid #1f2328;outline-offset:2px;box-shadow:0 0 0 5px #fff}' +
    'header :focus-visible{outline-color:var(--on-accent);box-shadow:none}' +
    '@media (max-width:480px){.panel,.left .panel{inset:0;width:100%;max-width:none;height:100%;max-height:none;border-radius:0;border:0}}' +
    '@media (prefers-reduced-motion:no-preference){.launcher{transition:transform .15s}.launcher:hover{transform:translateY(-2px)}}';

  var ICON =
    '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6v2h2V9H7zm4 0v2h2V9h-2zm4 0v2h2V9h-2z"/></svg>';

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var name in attrs || {}) node.setAttribute(name, attrs[name]);
    if (text != null) node.textContent = text;
    return node;
  }

  // WCAG relative luminance and contrast, to pick readable text on the site's accent colour.
  function rgb(colour, probe) {
    probe.style.color = "";
    probe.style.color = colour;
    var m = /^rgba?\(/.test(getComputedStyle(probe).color) && getComputedStyle(probe).color.match(/[\d.]+/g);
    probe.style.color = "";
    if (!m || (m.length > 3 && Number(m[3]) < 1)) return null; // see-through colours are refused
    return m.slice(0, 3).map(Number);
  }
  function luminance(c) {
    var v = c.map(function (x) {
      x /= 255;
      return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
  }
  function contrast(a, b) {
    var x = luminance(a), y = luminance(b);
    return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
  }

  function inside(inner, outer) {
    return inner && outer && inner.char_start >= outer.char_start && inner.char_end <= outer.char_end;
  }

  // The viewer at the cited passage, its sentence marked, and in it the answer's words.
  function viewerUrl(citation, sentence, span) {
    var q = "?start=" + citation.char_start + "&end=" + citation.char_end;
    if (inside(sentence, citation)) {
      q += "&sentence_start=" + sentence.char_start + "&sentence_end=" + sentence.char_end;
      if (inside(span, sentence)) q += "&span_start=" + span.char_start + "&span_end=" + span.char_end;
    }
    if (lang !== "th") q += "&lang=" + lang;
    if (answered && answered !== "default") q += "&collection=" + answered;
    if (citation.view_token) q += "&token=" + encodeURIComponent(citation.view_token);
    // Ids are file paths (laws/pdpa): encode each segment, keep the slashes (proxies reject %2F).
    var path = citation.doc_id.split("/").map(encodeURIComponent).join("/");
    return endpoint + "/documents/" + path + q + "#cited";
  }

  function docLink(citation, sentence, span, cls) {
    var a = el("a", { href: viewerUrl(citation, sentence, span), target: "_blank", rel: "noopener", class: cls || "" });
    // Isolated and without bidi controls: a title cannot reverse the text after it.
    a.appendChild(el("bdi", {}, citation.title.replace(/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, "")));
    a.appendChild(el("span", { class: "sr" }, " " + t.newTab));
    return a;
  }

  function chars(citation) {
    return t.chars + " " + citation.char_start.toLocaleString() + "–" + citation.char_end.toLocaleString();
  }

  // Cut points at a space near `i` (searching `dir`-wards up to 25 characters), so that a snippet
  // never starts on a Thai vowel or tone mark or cuts a word in half where a space is near.
  function atSpace(chars, i, dir) {
    for (var k = 0; k < 25; k++) {
      var j = i + dir * k;
      if (j <= 0 || j >= chars.length) return Math.max(0, Math.min(chars.length, j));
      if (/\s/.test(chars[j])) return dir < 0 ? j + 1 : j;
    }
    return i;
  }

  // `text` (starting at document offset `at`) into `node`, the characters of `span` in a <strong>
  // if its offsets point at exactly its text (code points, as the service counts: Array.from);
  // false (and nothing added) if they do not.
  function withStrong(node, text, at, span) {
    var chars = Array.from(text);
    var a = span.char_start - at, b = span.char_end - at;
    if (a < 0 || b > chars.length || a >= b || chars.slice(a, b).join("") !== span.text) return false;
    node.appendChild(document.createTextNode(chars.slice(0, a).join("")));
    node.appendChild(el("strong", {}, span.text));
    node.appendChild(document.createTextNode(chars.slice(b).join("")));
    return true;
  }

  // The passage around its highlighted sentence, about 90 characters either side, the sentence
  // marked and the reader's words in it bold. Offsets count code points (as the service does),
  // not UTF-16 units: Array.from.
  function snippet(passage) {
    var p = el("p", { class: "snip" });
    var chars = Array.from(passage.text), h = passage.highlight;
    var a = h ? h.char_start - passage.citation.char_start : -1;
    var b = h ? h.char_end - passage.citation.char_start : -1;
    if (!h || a < 0 || b > chars.length || a >= b || chars.slice(a, b).join("") !== h.text) {
      var end = chars.length > 240 ? atSpace(chars, 240, -1) : chars.length;
      p.textContent = chars.slice(0, end).join("") + (end < chars.length ? "…" : "");
      return p;
    }
    var from = a > 90 ? atSpace(chars, a - 90, -1) : 0;
    var to = chars.length - b > 90 ? atSpace(chars, b + 90, 1) : chars.length;
    p.appendChild(document.createTextNode((from > 0 ? "…" : "") + chars.slice(from, a).join("")));
    var mark = el("mark");
    if (!h.span || !withStrong(mark, h.text, h.char_start, h.span)) mark.textContent = h.text;
    p.appendChild(mark);
    p.appendChild(document.createTextNode(chars.slice(b, to).join("") + (to < chars.length ? "…" : "")));
    return p;
  }

  // "Helpful / not helpful" under an answer, with an optional comment for "not helpful": one
  // vote, with the answer's one-time token (POST /v1/feedback).
  function feedbackBox(token, announce) {
    var box = el("fieldset", { class: "fb" });
    box.appendChild(el("legend", {}, t.rate));
    var yes = el("button", { type: "button", "aria-pressed": "false" }, t.helpful);
    var no = el("button", { type: "button", "aria-pressed": "false" }, t.notHelpful);
    box.appendChild(yes);
    box.appendChild(no);
    function send(helpful, comment) {
      var headers = { "Content-Type": "application/json" };
      if (data.key) headers.Authorization = "Bearer " + data.key;
      var vote = { token: token, helpful: helpful };
      if (comment) vote.comment = comment.slice(0, 500);
      fetch(endpoint + "/v1/feedback", { method: "POST", headers: headers, body: JSON.stringify(vote), credentials: "omit" })
        .then(function (r) { return r.ok; }, function () { return false; })
        .then(function (ok) {
          box.textContent = "";
          box.appendChild(el("p", { role: "status" }, ok ? t.thanks : t.feedbackFailed));
          announce(ok ? t.thanks : t.feedbackFailed);
        });
    }
    yes.addEventListener("click", function () {
      yes.setAttribute("aria-pressed", "true");
      send(true, null);
    });
    no.addEventListener("click", function () {
      if (no.getAttribute("aria-pressed") === "true") return;
      no.setAttribute("aria-pressed", "true");
      yes.disabled = true;
      var id = "kt-c-" + Math.random().toString(36).slice(2, 8);
      box.appendChild(el("label", { for: id, class: "sr" }, t.comment));
      var comment = el("textarea", { id: id, maxlength: "500", placeholder: t.comment });
      var go = el("button", { type: "button", class: "send" }, t.sendFeedback);
      go.addEventListener("click", function () { send(false, comment.value.trim()); });
      box.appendChild(comment);
      box.appendChild(go);
      comment.focus();
    });
    return box;
  }

  function renderAnswer(box, body, announce) {
    box.textContent = "";
    var answer = body.answer;
    if (answer) {
      var ans = el("div", { class: "ans" });
      // The confidence ladder: exact words, or only the sentence that likely holds them.
      ans.appendChild(el("p", { class: "lbl" }, answer.kind === "sentence" ? t.likely : t.answer));
      // The reader's words in bold inside their sentence; the sentence alone when it is the answer,
      // and the words alone if the offsets do not check out.
      var quote = el("blockquote"), s = answer.sentence;
      var words = s && answer.text !== s.text && withStrong(quote, s.text, s.char_start, answer) ? answer : null;
      if (!words) quote.textContent = answer.text;
      ans.appendChild(quote);
      var from = el("p", { class: "meta" });
      from.appendChild(docLink(answer.citation, s, words));
      ans.appendChild(from);
      box.appendChild(ans);
    } else if (body.passages.length) {
      box.appendChild(el("p", {}, t.noAnswer));
    }
    if (!body.passages.length) {
      box.appendChild(el("p", {}, t.none));
      return;
    }
    var headingId = "kt-h-" + Math.random().toString(36).slice(2, 8);
    box.appendChild(el("h3", { id: headingId }, t.sources + " (" + body.passages.length + ")"));
    var list = el("ol", { "aria-labelledby": headingId });
    body.passages.forEach(function (p) {
      var item = el("li");
      var head = el("p");
      head.appendChild(document.createTextNode(p.rank + ". "));
      head.appendChild(docLink(p.citation, p.highlight, p.highlight && p.highlight.span, "src"));
      item.appendChild(head);
      item.appendChild(el("p", { class: "meta" }, chars(p.citation)));
      item.appendChild(snippet(p));
      list.appendChild(item);
    });
    box.appendChild(list);
    if (typeof body.feedback_token === "string" && body.feedback_token) box.appendChild(feedbackBox(body.feedback_token, announce));
  }

  function mount() {
    if (document.querySelector("[data-khamtop-widget]")) return; // the tag is on the page twice
    var host = el("div", { "data-khamtop-widget": "" });
    var root = host.attachShadow({ mode: "open" });
    if (root.adoptedStyleSheets && typeof CSSStyleSheet === "function" && "replaceSync" in CSSStyleSheet.prototype) {
      // A constructed sheet is not inline style, so a host page's strict CSP does not block it.
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(STYLES);
      root.adoptedStyleSheets = [sheet];
    } else {
      root.appendChild(el("style", {}, STYLES));
    }
    var wrap = el("div", { class: "kt" + (left ? " left" : ""), lang: lang });
    root.appendChild(wrap);

    var launcher = el("button", {
      type: "button", class: "launcher", "aria-haspopup": "dialog", "aria-expanded": "false",
      "aria-controls": "kt-panel", "aria-label": title + " – " + t.open,
    });
    launcher.innerHTML = ICON; // a constant, not data
    launcher.appendChild(el("span", {}, title));

    var panel = el("section", { id: "kt-panel", class: "panel", role: "dialog", "aria-modal": "false", "aria-labelledby": "kt-title" });
    panel.hidden = true;
    var header = el("header");
    header.appendChild(el("h2", { id: "kt-title" }, title));
    var close = el("button", { type: "button", class: "close", "aria-label": t.close }, "×");
    header.appendChild(close);
    // The conversation scrolls (so it takes focus); a short status line is what screen readers
    // announce: the answer and the number of sources, not every snippet.
    var log = el("div", { class: "log", role: "region", "aria-label": t.conversation, tabindex: "0" });
    var status = el("p", { class: "sr", role: "status" });
    log.appendChild(el("p", { class: "intro" }, t.intro));
    var form = el("form", { novalidate: "" });
    form.appendChild(el("label", { for: "kt-q", class: "sr" }, t.label));
    var input = el("textarea", { id: "kt-q", rows: "1", maxlength: "8000", placeholder: t.placeholder, "aria-describedby": "kt-hint" });
    form.appendChild(input);
    form.appendChild(el("button", { type: "submit", class: "send" }, t.send));
    var hint = el("p", { id: "kt-hint", class: "hint", "aria-live": "assertive" });
    panel.appendChild(header);
    panel.appendChild(log);
    panel.appendChild(form);
    panel.appendChild(hint);
    panel.appendChild(status);
    wrap.appendChild(launcher);
    wrap.appendChild(panel);

    function announce(text) {
      status.textContent = "";
      setTimeout(function () { status.textContent = text; }, 50); // a repeated message is read again
    }
    // On a phone the panel covers the page, so it behaves as a modal dialog: Tab stays inside.
    var phone = window.matchMedia ? window.matchMedia("(max-width: 480px)") : { matches: false };
    function open() {
      panel.hidden = false;
      panel.setAttribute("aria-modal", phone.matches ? "true" : "false");
      launcher.setAttribute("aria-expanded", "true");
      input.focus();
    }
    function shut() {
      panel.hidden = true;
      launcher.setAttribute("aria-expanded", "false");
      launcher.focus();
    }
    launcher.addEventListener("click", function () {
      if (panel.hidden) open(); else shut();
    });
    close.addEventListener("click", shut);
    panel.addEventListener("keydown", function (e) {
      if (e.key === "Escape") {
        e.stopPropagation();
        shut();
      } else if (e.key === "Tab" && phone.matches) {
        var stops = Array.prototype.filter.call(
          panel.querySelectorAll("button, textarea, a[href], [tabindex='0']"),
          function (n) { return n.offsetParent !== null; }
        );
        var first = stops[0], last = stops[stops.length - 1], at = root.activeElement;
        if (e.shiftKey && at === first) { e.preventDefault(); last.focus(); }
        else if (!e.shiftKey && at === last) { e.preventDefault(); first.focus(); }
      }
    });
    // Keys typed in the widget are the widget's: the host page's shortcuts must not see them.
    ["keydown", "keyup", "keypress"].forEach(function (type) {
      root.addEventListener(type, function (e) { e.stopPropagation(); });
    });
    input.addEventListener("keydown", function (e) {
      // Enter asks, Shift+Enter is a new line; never while a Thai IME is composing.
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit", { cancelable: true }));
      }
    });
    input.addEventListener("input", function () {
      hint.textContent = "";
      input.style.height = "auto";
      input.style.height = Math.min(input.scrollHeight + 2, 140) + "px";
    });

    function ask(question, box) {
      box.textContent = "";
      box.appendChild(el("p", { class: "meta" }, t.busy));
      announce(t.busy);
      var controller = window.AbortController ? new AbortController() : null;
      var timer = controller && setTimeout(function () { controller.abort(); }, 30000);
      function fail(message, retry) {
        box.textContent = "";
        var err = el("div", { class: "err" });
        err.appendChild(el("p", {}, message));
        if (retry) {
          var again = el("button", { type: "button" }, t.retry);
          again.addEventListener("click", function () {
            ask(question, box);
            input.focus();
          });
          err.appendChild(again);
        }
        box.appendChild(err);
        announce(message);
      }
      if (!endpoint) return fail(t.down, false);
      fetch(endpoint + "/v1/ask", {
        method: "POST",
        headers: data.key
          ? { "Content-Type": "application/json", Authorization: "Bearer " + data.key }
          : { "Content-Type": "application/json" },
        body: JSON.stringify(collection ? { question: question, top_k: topK, collection: collection } : { question: question, top_k: topK }),
        credentials: "omit",
        signal: controller && controller.signal,
      })
        .then(function (r) {
          return r.json().catch(function () { return {}; }).then(function (body) {
            if (r.ok && body && Array.isArray(body.passages)) {
              if (/^[a-z][a-z0-9-]{0,39}$/.test(body.collection || "")) answered = body.collection;
              renderAnswer(box, body, announce);
              var said = body.answer ? (body.answer.kind === "sentence" ? t.likely : t.answer) + ": " + body.answer.text : body.passages.length ? t.noAnswer : t.none;
              return announce(said + " " + t.found.replace("{n}", body.passages.length));
            }
            if (r.status === 503) return fail(t.loading, true);
            if (r.status === 429) return fail(t.busyServer, true);
            if (r.status === 401) {
              if (window.console) console.error("khamtop widget: the service needs a search key: set data-key");
              return fail(t.down, false);
            }
            if (r.status >= 400 && r.status < 500) return fail(t.bad + ((body && (body.message || body.detail)) || r.status), false);
            fail(t.down, true);
          });
        })
        .catch(function () { fail(t.down, true); })
        .then(function () {
          clearTimeout(timer);
          // Show the new answer from its question down, not the end of its last source.
          var q = box.previousSibling;
          log.scrollTop = q ? q.offsetTop - log.offsetTop - 8 : log.scrollHeight;
        });
    }

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var question = input.value.trim();
      if (!question) {
        hint.textContent = t.empty;
        input.focus();
        return;
      }
      input.value = "";
      input.style.height = "";
      log.appendChild(el("p", { class: "q" }, question));
      var box = el("div", { class: "a" });
      log.appendChild(box);
      log.scrollTop = log.scrollHeight;
      ask(question, box);
    });

    document.body.appendChild(host);

    // The accent: any CSS colour; text on it is white or near-black, whichever reads better.
    var accent = data.accent && window.CSS && CSS.supports("color", data.accent) ? data.accent : null;
    if (accent) {
      var c = rgb(accent, wrap);
      var white = [255, 255, 255], ink = [31, 35, 40];
      if (c && Math.max(contrast(c, white), contrast(c, ink)) >= 4.5) {
        wrap.style.setProperty("--accent", accent);
        wrap.style.setProperty("--on-accent", contrast(c, white) >= contrast(c, ink) ? "#fff" : "#1f2328");
        // Links sit on white: use the accent only where it reads as text there (AA, 4.5:1).
        if (contrast(c, white) >= 4.5) wrap.style.setProperty("--link", accent);
      } else if (window.console) {
        console.warn("khamtop widget: data-accent " + accent + " leaves text under 4.5:1 contrast; using the default");
      }
    }
  }

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
