"""Collections' own keys (service.keys) and isolation, route by route: a key made for collection A
never obtains anything of collection B (a passage, a document's text, title or id, an answer, a
viewer page or token, an error that names B's documents), whatever route and error path it
tries. Every route of the app is listed here; a new route fails the test until it is."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest

from service.settings import Settings

ADMIN = "admin-key-0123456789abcdef"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
A = {
    "doc_id": "กรมเอ/ประกาศ",
    "text": "กรมเอประกาศรับสมัครอาสาสมัครดูแลผู้สูงอายุในชุมชนจังหวัดลำปางจำนวนหนึ่งร้อยคน",
    "title": "ประกาศกรมเอ",
}
B = {
    "doc_id": "กรมบี/ลับ",
    "text": "กรมบีจัดซื้อเครื่องบินตรวจการณ์ลำใหม่ด้วยงบประมาณสามพันล้านบาทในปีงบประมาณหน้า",
    "title": "เอกสารภายในกรมบี",
}
# What must never reach a holder of A's keys.
B_MARKS = ("กรมบี/ลับ", "เอกสารภายในกรมบี", "เครื่องบินตรวจการณ์", "%E0%B8%81%E0%B8%A3%E0%B8%A1%E0%B8%9A%E0%B8%B5")


@pytest.fixture
def service(make_client):
    """The service with two collections, A's and B's, and A's own search and admin keys."""
    client = make_client(admin_key=Settings(admin_key=ADMIN).admin_key, rate_limit_per_minute=0)
    for name, doc in (("dept-a", A), ("dept-b", B)):
        assert client.post("/v1/collections", json={"name": name}, headers=AS_ADMIN).status_code == 201
        assert client.post(f"/v1/documents?collection={name}", json=doc, headers=AS_ADMIN).status_code == 201
    # B has a key of its own too (not A's): a collection without one is open to anyone.
    assert client.post("/v1/keys", json={"collection": "dept-b", "role": "search"}, headers=AS_ADMIN).status_code == 201
    keys = {}
    for role in ("search", "admin"):
        made = client.post("/v1/keys", json={"collection": "dept-a", "role": role}, headers=AS_ADMIN)
        assert made.status_code == 201, made.text
        keys[role] = {"Authorization": f"Bearer {made.json()['key']}"}
    return client, keys


def test_a_collections_search_key_asks_its_collection_by_default_and_only_it(service):
    client, keys = service
    mine = client.post("/v1/ask", json={"question": "อาสาสมัครดูแลผู้สูงอายุ", "read": False}, headers=keys["search"])
    assert mine.status_code == 200 and mine.json()["collection"] == "dept-a"
    assert mine.json()["passages"][0]["citation"]["doc_id"] == A["doc_id"]
    # A collection with keys of its own needs one, even though no global search key is set.
    anonymous = client.post("/v1/ask", json={"question": "อาสาสมัคร", "collection": "dept-a"})
    assert anonymous.status_code == 401
    # Default has no keys and no global search key is set: it stays open, as before collections.
    assert client.post("/v1/ask", json={"question": "อาสาสมัคร"}).status_code == 200


def test_a_revoked_key_is_refused_at_its_next_request(service):
    client, keys = service
    listed = client.get("/v1/keys", headers=AS_ADMIN).json()["keys"]
    mine = [k for k in listed if k["collection"] == "dept-a"]
    assert {k["role"] for k in mine} == {"search", "admin"} and all("key" not in k for k in listed)
    search_id = next(k["id"] for k in mine if k["role"] == "search")
    assert client.delete(f"/v1/keys/{search_id}", headers=AS_ADMIN).status_code == 204
    response = client.post("/v1/ask", json={"question": "อาสาสมัคร", "collection": "dept-a"}, headers=keys["search"])
    assert response.status_code == 401
    assert client.delete(f"/v1/keys/{search_id}", headers=AS_ADMIN).status_code == 404


def test_the_key_file_holds_hashes_not_keys(service, settings):
    client, keys = service
    stored = (settings.index_root / "keys.json").read_text("utf-8")
    for headers in keys.values():
        key = headers["Authorization"].removeprefix("Bearer ")
        assert key not in stored and key.split("_")[1] in stored  # its id is, its secret is not


def _requests(keys):
    """(route, method, path, json, headers, allowed statuses): every route of the app, each tried
    by A's keys against B's collection and documents."""
    b_doc = "/v1/documents/กรมบี/ลับ"
    # The questions ask for B's document without naming it (a response repeats its question).
    ask_b = {"question": "จัดซื้อเครื่องบินลำใหม่ด้วยงบประมาณ", "collection": "dept-b", "read": False}
    ask_plain = {"question": "จัดซื้อเครื่องบินลำใหม่ด้วยงบประมาณ", "read": False}
    return [
        ("/v1/ask", "POST", "/v1/ask", ask_b, keys["search"], {404}),
        ("/v1/ask", "POST", "/v1/ask", ask_b, keys["admin"], {404}),
        ("/v1/ask", "POST", "/v1/ask", ask_plain, keys["search"], {200}),  # answered from A only
        ("/v1/documents/{doc_id:path}", "GET", f"{b_doc}?collection=dept-b", None, keys["search"], {404}),
        ("/v1/documents/{doc_id:path}", "GET", b_doc, None, keys["search"], {404}),
        ("/v1/documents/{doc_id:path}", "GET", f"{b_doc}?collection=dept-b", None, {}, {401}),
        ("/v1/documents", "POST", "/v1/documents?collection=dept-b", B, keys["admin"], {404}),
        ("/v1/documents", "POST", "/v1/documents?collection=dept-b", B, keys["search"], {401}),
        ("/v1/documents/{doc_id:path}", "DELETE", f"{b_doc}?collection=dept-b", None, keys["admin"], {404}),
        ("/v1/documents/{doc_id:path}", "DELETE", b_doc, None, keys["admin"], {404}),
        ("/v1/collections", "GET", "/v1/collections", None, keys["admin"], {403}),
        ("/v1/collections", "POST", "/v1/collections", {"name": "dept-c"}, keys["admin"], {403}),
        ("/v1/collections/{name}", "DELETE", "/v1/collections/dept-b", None, keys["admin"], {403}),
        ("/v1/keys", "POST", "/v1/keys", {"collection": "dept-b", "role": "admin"}, keys["admin"], {403}),
        ("/v1/keys", "GET", "/v1/keys", None, keys["admin"], {403}),
        ("/v1/keys/{key_id}", "DELETE", "/v1/keys/anything", None, keys["admin"], {403}),
        ("/metrics", "GET", "/metrics", None, keys["admin"], {403}),
        ("/documents/{doc_id:path}", "GET", "/documents/กรมบี/ลับ?collection=dept-b", None, keys["search"], {401}),
        ("/documents/{doc_id:path}", "GET", "/documents/กรมบี/ลับ?collection=dept-b&token=0", None, {}, {401}),
        ("/documents/{doc_id:path}", "GET", "/documents/กรมบี/ลับ", None, keys["search"], {404}),
        ("/v1/feedback", "POST", "/v1/feedback", {"token": "b" * 32, "helpful": False}, keys["search"], {404}),
        ("/v1/log", "DELETE", "/v1/log?collection=dept-b", None, keys["admin"], {404}),
        ("/v1/log/report", "GET", "/v1/log/report?collection=dept-b", None, keys["admin"], {404}),
        ("/v1/log/report", "GET", "/v1/log/report", None, keys["search"], {401}),
        ("/v1/log", "DELETE", "/v1/log?collection=dept-b", None, keys["search"], {401}),
        ("/healthz", "GET", "/healthz", None, keys["search"], {200}),
        ("/healthz", "HEAD", "/healthz", None, keys["search"], {200}),
        ("/readyz", "GET", "/readyz", None, keys["search"], {200}),
        ("/readyz", "HEAD", "/readyz", None, keys["search"], {200}),
        ("/widget.js", "GET", "/widget.js", None, keys["search"], {200}),
        ("/widget/demo", "GET", "/widget/demo", None, keys["search"], {200}),
        ("/widget/demo.css", "GET", "/widget/demo.css", None, keys["search"], {200}),
        ("/docs", "GET", "/docs", None, keys["search"], {200}),
    ]


def _app_routes(app) -> set[tuple[str, str]]:
    found = set()
    for route in app.router.routes:
        for inner in getattr(getattr(route, "original_router", None), "routes", [route]):
            for method in getattr(inner, "methods", None) or ():
                found.add((inner.path, method))
    return found - {("/openapi.json", "GET"), ("/openapi.json", "HEAD"), ("/widget.js", "HEAD")}


def test_no_route_gives_a_collections_key_anything_of_another_collection(service):
    client, keys = service
    requests = _requests(keys)
    missing = _app_routes(client.app) - {(route, method) for route, method, *_ in requests}
    assert not missing, f"routes not tried for isolation: {sorted(missing)}"
    for _route, method, path, body, headers, allowed in requests:
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code in allowed, (method, path, response.status_code, response.text[:300])
        shown = response.text + " ".join(response.headers.values())
        asked = unquote(path) + json.dumps(body, ensure_ascii=False)  # what the request itself names
        leaked = [mark for mark in B_MARKS if mark in shown and mark not in asked]
        assert not leaked, f"{method} {path} showed {leaked} of collection dept-b"
        # The answer is the one a collection that is not there gets: it tells nothing of B.
        if "dept-b" in path or (body and body.get("collection") == "dept-b"):
            elsewhere = {**body, "collection": "dept-zz"} if body and "collection" in body else body
            other = client.request(method, path.replace("dept-b", "dept-zz"), json=elsewhere, headers=headers)
            assert other.status_code == response.status_code, (method, path)
    # And B is still whole: nothing A's keys did changed it.
    b = client.post("/v1/ask", json={"question": B["text"], "collection": "dept-b", "read": False}, headers=AS_ADMIN)
    assert b.json()["passages"][0]["citation"]["doc_id"] == B["doc_id"]


def test_a_view_token_of_one_collection_opens_nothing_in_another(service):
    client, keys = service
    asked = client.post("/v1/ask", json={"question": "อาสาสมัคร", "read": False}, headers=keys["search"]).json()
    token = asked["passages"][0]["citation"]["view_token"]
    assert token, "a collection with keys hands out view tokens"
    page = "/documents/กรมเอ/ประกาศ"
    assert client.get(f"{page}?collection=dept-a&token={token}").status_code == 200
    assert client.get(f"/documents/กรมบี/ลับ?collection=dept-b&token={token}").status_code == 401
    assert client.get(f"{page}?collection=dept-b&token={token}").status_code == 401


def test_a_collections_admin_key_changes_only_its_own_documents(service):
    client, keys = service
    new = {"doc_id": "กรมเอ/ใหม่", "text": "กรมเอเปิดศูนย์บริการประชาชนแห่งใหม่ที่อำเภอเมืองลำปาง", "title": "ศูนย์ใหม่"}
    assert client.post("/v1/documents", json=new, headers=keys["admin"]).status_code == 201  # its own, by default
    assert client.delete("/v1/documents/กรมเอ/ใหม่?collection=dept-a", headers=keys["admin"]).status_code == 200
    assert client.post("/v1/documents?collection=default", json=new, headers=keys["admin"]).status_code == 404


def test_dropping_a_collection_revokes_its_keys(service):
    client, keys = service
    assert client.delete("/v1/collections/dept-a", headers=AS_ADMIN).status_code == 204
    assert {k["collection"] for k in client.get("/v1/keys", headers=AS_ADMIN).json()["keys"]} == {"dept-b"}
    client.post("/v1/collections", json={"name": "dept-a"}, headers=AS_ADMIN)
    # A collection made again under the name is not opened by the old collection's keys.
    response = client.post("/v1/documents?collection=dept-a", json=A, headers=keys["admin"])
    assert response.status_code == 401


def test_a_damaged_key_file_closes_collections_with_keys_rather_than_opening_them(service, settings):
    client, keys = service
    (settings.index_root / "keys.json").write_text("{not json", "utf-8")
    response = client.post("/v1/ask", json={"question": "อาสาสมัคร", "collection": "dept-a"}, headers=keys["search"])
    assert response.status_code == 401
    assert client.post("/v1/ask", json={"question": "อาสาสมัคร", "collection": "dept-a"}).status_code == 401
    made = client.post("/v1/keys", json={"collection": "dept-a", "role": "search"}, headers=AS_ADMIN)
    assert made.status_code == 409 and "cannot be read" in made.json()["detail"]


def test_a_scoped_key_carries_a_filter_no_request_can_widen(service):
    from service.keys import scope_key as make_scoped
    from service.keys import scope_secret

    def scope_key(key, only):
        return make_scoped(key, only, scope_secret(ADMIN))

    client, keys = service
    north = {"doc_id": "กรมเอ/เหนือ", "text": "กรมเอเปิดศูนย์ดูแลผู้สูงอายุที่จังหวัดเชียงราย", "tags": {"region": "north"}}
    south = {"doc_id": "กรมเอ/ใต้", "text": "กรมเอเปิดศูนย์ดูแลผู้สูงอายุที่จังหวัดสงขลา", "tags": {"region": "south"}}
    for doc in (north, south):
        assert client.post("/v1/documents", json=doc, headers=keys["admin"]).status_code == 201
    parent = keys["search"]["Authorization"].removeprefix("Bearer ")
    scoped = {"Authorization": "Bearer " + scope_key(parent, {"tags": {"region": "north"}})}

    def cited(**body):
        response = client.post("/v1/ask", json={"question": "ศูนย์ดูแลผู้สูงอายุ", "read": False, **body}, headers=scoped)
        assert response.status_code == 200, response.text
        return {p["citation"]["doc_id"] for p in response.json()["passages"]}

    assert cited() == {"กรมเอ/เหนือ"}
    assert cited(filter={"tags": {"region": "south"}}) == set(), "a request narrows the key's filter, never widens it"
    assert cited(filter={"tags": {"region": ["north", "south"]}}) == {"กรมเอ/เหนือ"}
    assert client.get("/v1/documents/กรมเอ/ใต้", headers=scoped).status_code == 404
    assert client.get("/v1/documents/กรมเอ/เหนือ", headers=scoped).status_code == 200
    assert client.get("/documents/กรมเอ/ใต้?collection=dept-a", headers=scoped).status_code == 404
    assert client.post("/v1/ask", json={"question": "x", "collection": "dept-b"}, headers=scoped).status_code == 404
    assert client.post("/v1/documents", json=south, headers=scoped).status_code == 401  # a search key, not admin
    # Altered, its signature no longer holds; made from an admin key or a made-up one, it is none.
    wider = scope_key(parent, {"tags": {"region": "south"}})
    forged = scoped["Authorization"].rsplit("_", 1)[0] + "_" + wider.rsplit("_", 1)[1]
    in_a = {"question": "x", "collection": "dept-a"}
    assert client.post("/v1/ask", json=in_a, headers={"Authorization": forged}).status_code == 401
    admin_made = scope_key(keys["admin"]["Authorization"].removeprefix("Bearer "), {})
    assert client.post("/v1/ask", json=in_a, headers={"Authorization": f"Bearer {admin_made}"}).status_code == 401
    # Revoking the key it was made from revokes it.
    search_id = parent.split("_")[1]
    assert client.delete(f"/v1/keys/{search_id}", headers=AS_ADMIN).status_code == 204
    assert client.post("/v1/ask", json=in_a, headers=scoped).status_code == 401


def test_revoking_a_collections_last_key_leaves_it_closed(service):
    client, keys = service
    for key in client.get("/v1/keys", headers=AS_ADMIN).json()["keys"]:
        if key["collection"] == "dept-a":
            assert client.delete(f"/v1/keys/{key['id']}", headers=AS_ADMIN).status_code == 204
    response = client.post("/v1/ask", json={"question": "อาสาสมัคร", "collection": "dept-a"})
    assert response.status_code == 401, "revoking keys must not make a department's documents public"
    assert client.get("/v1/documents/กรมเอ/ประกาศ?collection=dept-a").status_code == 401


def test_odd_and_forged_scoped_keys_are_refused_not_a_500(service, settings):
    import base64
    import hashlib
    import hmac
    import json

    client, keys = service
    parent = keys["search"]["Authorization"].removeprefix("Bearer ")
    key_id = parent.split("_")[1]
    in_a = {"question": "x", "collection": "dept-a"}
    for odd in (f"khs_{key_id}_é_eyJ9", f"khs_{key_id}_{'0' * 32}_", f"khs__{'0' * 32}_e30", "khs_" + "x" * 3000):
        response = client.post("/v1/ask", json=in_a, headers={"X-API-Key": odd.encode("utf-8")})
        assert response.status_code == 401, (odd[:40], response.text)
    # What keys.json holds (a key's hash) is not enough to make a scoped key.
    stored = json.loads((settings.index_root / "keys.json").read_text("utf-8"))
    digest = next(k["sha256"] for k in stored["keys"] if k["id"] == key_id)
    body = base64.urlsafe_b64encode(b"{}").decode().rstrip("=")
    for secret in (bytes.fromhex(digest), digest.encode()):
        for message in (b"scope\0" + body.encode(), f"scope\0{key_id}\0{body}".encode()):
            mac = hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]
            forged = {"Authorization": f"Bearer khs_{key_id}_{mac}_{body}"}
            assert client.post("/v1/ask", json=in_a, headers=forged).status_code == 401


def test_a_filter_that_matches_nothing_cannot_be_matched_by_a_crafted_value(service):
    from corpus.filters import Filter

    key_only, asked = Filter(languages=("th",)), Filter(languages=("en",))
    combined = key_only.both(asked)
    assert combined.nothing and not combined.empty

    class Odd:
        tags, language, date = (), "\x00none", None

    assert not combined.matches(Odd())
    tags = Filter(tags=(("region", ("north",)),)).both(Filter(tags=(("region", ("south",)),)))
    assert tags.nothing


def test_filter_lists_are_bounded_and_an_empty_part_is_named(service):
    client, keys = service
    ask = lambda f: client.post("/v1/ask", json={"question": "x", "filter": f}, headers=keys["search"])  # noqa: E731
    assert ask({"language": ["th"] * 65}).status_code == 422
    assert ask({"tags": {"region": ["x"] * 65}}).status_code == 422
    for empty in ({"language": []}, {"language": ""}, {"date_from": ""}, {"tags": {"region": []}}):
        response = ask(empty)
        assert response.status_code == 422, (empty, response.text)


def test_a_collection_dropped_by_the_cli_loses_its_keys_and_is_not_served_from_memory(service, settings):
    from typer.testing import CliRunner

    from khamtop.cli import app

    client, keys = service
    done = CliRunner().invoke(app, ["collections", "drop", "dept-a", "--index", str(settings.index_root)])
    assert done.exit_code == 0, done.output
    assert {k["collection"] for k in client.get("/v1/keys", headers=AS_ADMIN).json()["keys"]} == {"dept-b"}
    made = client.post("/v1/collections", json={"name": "dept-a"}, headers=AS_ADMIN).json()
    assert (made["served"], made["documents"]) == (False, 0)
    response = client.post("/v1/ask", json={"question": "อาสาสมัคร", "collection": "dept-a"}, headers=keys["search"])
    assert response.status_code == 409, "the new collection is empty: nothing of the dropped one is served"


def test_an_upload_to_a_collection_dropped_meanwhile_does_not_bring_it_back(service, settings):
    from index.store import collections
    from service import state as live

    client, _ = service
    state = client.app.state.khamtop
    collections.drop(settings.index_root, "dept-b")  # another process, while this upload was being read
    with pytest.raises(live.UpdateError, match="no collection 'dept-b'"):
        live.apply_update(settings, state, upsert=[], remove=["x"], collection="dept-b")
    assert not collections.exists(settings.index_root, "dept-b")


def test_readiness_shows_the_default_collections_counts_to_the_global_admin_only(service):
    client, keys = service
    for headers in (keys["search"], keys["admin"], {}):
        ready = client.get("/readyz", headers=headers).json()
        assert ready["status"] == "ready" and "documents" not in ready and "chunks" not in ready
    assert isinstance(client.get("/readyz", headers=AS_ADMIN).json()["documents"], int)


def test_a_failed_write_tells_a_collections_admin_no_folder_of_the_server(tmp_path):
    from service.routes import _without_paths
    from service.settings import Settings

    settings = Settings(index_dir=tmp_path / "idx")
    error = OSError(f"cannot write {tmp_path / 'idx'}/collections/dept-a/v000002/manifest.json")
    said = _without_paths(settings, error)
    assert str(tmp_path) not in said and said == "cannot write INDEX/collections/dept-a/v000002/manifest.json"
