"""The question log (service.question_log): what it keeps of a question and what it never keeps,
one vote per answer, retention and deletion; over HTTP, the answer's feedback token."""

from __future__ import annotations

import sqlite3
import time

import pytest

from service.masking import MARKS, mask
from service.question_log import Asked, QuestionLog, VoteRefused, _SQLite, new_token


def asked(question="งบประมาณปี ๒๕๖๗ เท่าไร", collection="default", **more) -> Asked:
    fields = dict(
        collection=collection,
        question=question,
        mode="hybrid",
        read=True,
        no_answer=False,
        answer_kind="words",
        confidence=1.5,
        cited=["budget", "plan"],
        latency_ms=42.0,
        index_version=3,
    )
    return Asked(**(fields | more))


@pytest.fixture(params=["sqlite", "postgresql"])
def qlog(request, tmp_path):
    """The log in its embedded SQLite file, and in a real PostgreSQL server's database."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    opened = QuestionLog(tmp_path / "log" / "questions.sqlite3", retention_days=90, url=url)
    yield opened
    opened.close()


def test_national_ids_phones_and_emails_are_masked_and_numbers_that_are_not_stay():
    said = mask("บัตร 1-1037-00123-45-6 โทร 081-234-5678 หรือ +66 2 123 4567 อีเมล somchai.k@mdes.go.th")
    assert said == (f"บัตร {MARKS['national_id']} โทร {MARKS['phone']} หรือ {MARKS['phone']} อีเมล {MARKS['email']}")
    assert mask("เลข ๑๑๐๓๗๐๐๑๒๓๔๕๖ ครับ") == f"เลข {MARKS['national_id']} ครับ"  # Thai digits too
    phone = MARKS["phone"]
    for written in ("0-2123-4567", "(02) 123-4567", "+66 (0)81 234 5678", "08\u200b1234\u200b5678"):
        assert mask(f"โทร {written} ครับ") == f"โทร {phone} ครับ", written
    assert mask("เลข １１０３７００１２３４５６") == f"เลข {MARKS['national_id']}", "full-width digits too"
    kept = "งบ 2,500 ล้านบาท ปี 2567 จำนวน 1234567 คน วันที่ 15 มิถุนายน 2561 ราคา 0.5 บาท"
    assert mask(kept) == kept


def test_masking_takes_time_linear_in_the_text():
    long = "0" * 20_000 + "@" + "a." * 20_000
    started = time.perf_counter()
    mask(long)
    assert time.perf_counter() - started < 2.0


def test_a_question_is_kept_masked_with_its_answer_and_no_client_address(qlog, tmp_path):
    qlog.record(asked("เลขบัตร 1103700123456 ของผมยื่นภาษีได้ไหม", client="203.0.113.7", token=new_token()))
    qlog.flush()
    [row] = qlog.rows("default")
    assert row["question"] == f"เลขบัตร {MARKS['national_id']} ของผมยื่นภาษีได้ไหม"
    assert row["cited"] == ["budget", "plan"] and row["no_answer"] is False and row["index_version"] == 3
    assert row["asker"] and len(row["asker"]) == 16 and "token_hash" not in row
    assert "203.0.113.7" not in str(row) and "1103700123456" not in str(row)
    if isinstance(qlog._store, _SQLite):  # every byte of the file, not only what a query shows
        stored = (tmp_path / "log" / "questions.sqlite3").read_bytes() + b"".join(
            p.read_bytes() for p in (tmp_path / "log").glob("questions.sqlite3-*")
        )
        assert b"203.0.113.7" not in stored and b"1103700123456" not in stored
        with sqlite3.connect(tmp_path / "log" / "questions.sqlite3") as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_one_asker_is_one_hash_within_a_day_and_the_days_salt_is_gone_the_next_day(qlog):
    def asker(client, when):
        return qlog._call(qlog._asker, client, when)

    first, second = asker("198.51.100.1", 1_800_000_000), asker("198.51.100.1", 1_800_000_100)
    assert first == second and first != asker("198.51.100.2", 1_800_000_000)
    assert asker("198.51.100.1", 1_800_000_000 + 86_400) != first
    salts = qlog._call(lambda: qlog._execute("SELECT name FROM meta WHERE name LIKE ?", ("salt:%",)).fetchall())
    assert [name for (name,) in salts] == ["salt:2027-01-16"], (
        "yesterday's salt is deleted: its hashes cannot be tried again"
    )


def test_a_token_votes_once_on_its_own_question_and_an_unknown_token_not_at_all(qlog):
    token = new_token()
    qlog.record(asked(token=token, collection="dept-a"))
    qlog.record(asked("อีกคำถาม", token=new_token(), collection="dept-a"))
    assert qlog.vote(token, False, "  ไม่ตรง โทร 0812345678  ") == "dept-a"
    with pytest.raises(VoteRefused):
        qlog.vote(token, True, None)  # a second vote with the same token
    with pytest.raises(VoteRefused):
        qlog.vote(new_token(), True, None)
    first, other = qlog.rows("dept-a")
    assert (first["helpful"], first["comment"]) == (False, f"ไม่ตรง โทร {MARKS['phone']}")
    assert other["helpful"] is None, "a vote changes only its own question"


def test_questions_older_than_the_retention_go_and_a_collections_log_can_be_deleted(qlog):
    qlog.record(asked(collection="dept-a"))
    qlog.record(asked(collection="dept-b"))
    qlog.flush()
    assert qlog.prune(now=time.time() + 89 * 86_400) == 0
    assert qlog.delete_collection("dept-a") == 1
    assert qlog.rows("dept-a") == [] and len(qlog.rows("dept-b")) == 1
    assert qlog.prune(now=time.time() + 91 * 86_400) == 1
    assert qlog.rows("dept-b") == []


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_the_log_survives_a_restart_and_two_replicas_share_it(request, tmp_path, store):
    path = tmp_path / "questions.sqlite3"
    url = request.getfixturevalue("postgres_url") if store == "postgresql" else None
    first, replica = QuestionLog(path, 90, url=url), QuestionLog(path, 90, url=url)
    token = new_token()
    first.record(asked(token=token))
    day = "2030-01-01"
    assert replica._call(replica._salt, day) == first._call(first._salt, day), "one salt a day, whoever asks first"
    first.close()
    replica.close()
    again = QuestionLog(path, 90, url=url)
    try:
        assert len(again.rows("default")) == 1
        assert again.vote(token, True, None) == "default"
    finally:
        again.close()


def test_over_http_an_answer_carries_a_token_for_one_vote(make_client, settings):
    client = make_client()
    answer = client.post("/v1/ask", json={"question": "กระทรวงดิจิทัล 0812345678", "read": False}).json()
    token = answer["feedback_token"]
    assert token and len(token) >= 16
    assert client.post("/v1/feedback", json={"token": token, "helpful": True, "comment": "ดีมาก"}).status_code == 204
    again = client.post("/v1/feedback", json={"token": token, "helpful": False})
    assert again.status_code == 404 and "used" in again.json()["detail"]
    assert client.post("/v1/feedback", json={"token": "short", "helpful": True}).status_code == 422
    long_comment = {"token": new_token(), "helpful": True, "comment": "ก" * 501}
    assert client.post("/v1/feedback", json=long_comment).status_code == 422
    questions = client.app.state.questions
    questions.flush()
    [row] = questions.rows("default")
    assert row["question"] == f"กระทรวงดิจิทัล {MARKS['phone']}" and row["helpful"] is True
    assert row["latency_ms"] > 0 and row["read"] is False


def test_with_the_log_off_no_question_is_kept_and_no_token_given(make_client, settings):
    client = make_client(question_log=False)
    answer = client.post("/v1/ask", json={"question": "กระทรวงดิจิทัล", "read": False}).json()
    assert answer["feedback_token"] is None
    assert client.post("/v1/feedback", json={"token": new_token(), "helpful": True}).status_code == 404
    assert not (settings.index_root / "questions.sqlite3").exists()


def test_an_admin_deletes_a_collections_questions(make_client):
    from service.settings import Settings

    admin_key = "admin-key-0123456789abcdef"
    client = make_client(admin_key=Settings(admin_key=admin_key).admin_key)
    client.post("/v1/ask", json={"question": "กระทรวงดิจิทัล", "read": False})
    client.app.state.questions.flush()
    assert len(client.app.state.questions.rows("default")) == 1
    assert client.delete("/v1/log").status_code == 401
    deleted = client.delete("/v1/log?collection=default", headers={"Authorization": f"Bearer {admin_key}"})
    assert deleted.status_code == 204
    assert client.app.state.questions.rows("default") == []


def test_the_gap_report_groups_near_duplicate_thai_questions_and_ranks_them():
    from service.gap_report import question_words, report

    now = time.time()

    def row(question, no_answer=True, helpful=None, at=0.0, asker="a"):
        return {"question": question, "no_answer": no_answer, "helpful": helpful, "asked_at": now + at, "asker": asker}

    rows = [
        row("ค่าธรรมเนียมต่อใบอนุญาตขับขี่เท่าไร", at=1),
        row("ค่าธรรมเนียมต่อใบอนุญาตขับขี่ เท่าไหร่", at=2, asker="b"),
        row("ต่อใบอนุญาตขับขี่ค่าธรรมเนียมเท่าไร", at=3),
        row("สถานีเคเบิลใต้น้ำอยู่ที่ไหน", at=4),
        row("งบประมาณโครงการเน็ตประชารัฐเท่าไร", no_answer=False, helpful=False, at=5),
        row("งบประมาณโครงการเน็ตประชารัฐเท่าไร", no_answer=False, helpful=True, at=6),
    ]
    found = report(rows, question_words(), top=10)
    gaps = found["gaps"]
    assert gaps[0]["count"] == 3 and gaps[0]["question"] == "ค่าธรรมเนียมต่อใบอนุญาตขับขี่เท่าไร"
    assert len(gaps[0]["examples"]) == 3
    assert {g["question"] for g in gaps[1:]} == {"สถานีเคเบิลใต้น้ำอยู่ที่ไหน", "งบประมาณโครงการเน็ตประชารัฐเท่าไร"}
    assert next(g for g in gaps if g["question"].startswith("งบ"))["not_helpful"] == 1
    assert found["questions"] == 6 and found["answered_share"] == pytest.approx(2 / 6, abs=1e-3)
    assert found["top_questions"][0]["count"] == 3
    [day] = found["by_day"]
    assert day["asked"] == 6 and day["askers"] == 2 and day["helpful"] == 1 and day["not_helpful"] == 1


def test_over_http_and_in_the_cli_an_admin_reads_the_report(make_client, settings):
    import json

    from typer.testing import CliRunner

    from khamtop.cli import app
    from service.settings import Settings

    admin_key = "admin-key-0123456789abcdef"
    client = make_client(admin_key=Settings(admin_key=admin_key).admin_key)
    client.app.state.questions.record(asked("ที่จอดรถของกระทรวงอยู่ที่ไหน", no_answer=True))
    client.app.state.questions.record(asked("ที่จอดรถกระทรวงอยู่ที่ไหน", no_answer=True))
    client.app.state.questions.flush()
    headers = {"Authorization": f"Bearer {admin_key}"}
    found = client.get("/v1/log/report?collection=default", headers=headers).json()
    assert found["gaps"][0]["count"] == 2 and found["gaps"][0]["no_answer"] == 2
    assert client.get("/v1/log/report?since=yesterday", headers=headers).status_code == 422
    assert client.get("/v1/log/report?since=2030", headers=headers).json()["questions"] == 0
    assert client.get("/v1/log/report", headers=headers).json()["questions"] == 2
    printed = CliRunner().invoke(app, ["log", "report", "--index", str(settings.index_root), "--json"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.output)["gaps"][0]["count"] == 2
    shown = CliRunner().invoke(app, ["log", "report", "--index", str(settings.index_root), "--since", "๒๕๖๙"])
    assert shown.exit_code == 0 and "ที่จอดรถของกระทรวงอยู่ที่ไหน" in shown.output
    missing = CliRunner().invoke(app, ["log", "report", "--index", str(settings.index_root / "nowhere")])
    assert missing.exit_code != 0 and "no question log" in missing.output


def test_two_replicas_on_one_postgresql_log_take_a_vote_for_each_others_answers(make_client, postgres_url):
    from service.settings import Settings

    checked = Settings(question_log_url=postgres_url, admin_key="admin-key-0123456789abcdef")
    settings = {"question_log_url": checked.question_log_url, "admin_key": checked.admin_key}
    first, second = make_client(**settings), make_client(**settings)
    token = first.post("/v1/ask", json={"question": "ไม่มีในเอกสาร อีเมล a.b@c.go.th", "read": False}).json()
    assert second.post("/v1/feedback", json={"token": token["feedback_token"], "helpful": False}).status_code == 204
    assert first.post("/v1/feedback", json={"token": token["feedback_token"], "helpful": True}).status_code == 404
    report = second.get("/v1/log/report", headers={"Authorization": "Bearer admin-key-0123456789abcdef"}).json()
    assert report["questions"] == 1 and report["gaps"][0]["question"] == f"ไม่มีในเอกสาร อีเมล {MARKS['email']}"


def test_a_question_log_url_that_is_not_postgresql_is_refused_by_name():
    from pydantic import ValidationError

    from service.settings import Settings

    with pytest.raises(ValidationError, match="must be a PostgreSQL URL"):
        Settings(question_log_url="mysql://x@127.0.0.1/db")


def test_a_report_from_the_command_line_reads_only_and_deletes_nothing(tmp_path, settings):
    from typer.testing import CliRunner

    from khamtop.cli import app

    path = settings.index_root / "questions.sqlite3"
    kept = QuestionLog(path, retention_days=3650)  # the service keeps ten years
    kept.record(asked("คำถามเก่า"))
    kept.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE questions SET asked_at = asked_at - 400 * 86400")
    shown = CliRunner().invoke(app, ["log", "report", "--index", str(settings.index_root), "--since", "2000", "--json"])
    assert shown.exit_code == 0, shown.output
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM questions").fetchone()[0] == 1, "the report's retention deleted nothing"


def test_a_log_that_cannot_be_opened_leaves_questions_answered_and_deletions_refused(make_client, tmp_path):
    from service.settings import Settings

    (tmp_path / "a-file").write_text("not a folder", "utf-8")
    admin_key = "admin-key-0123456789abcdef"
    client = make_client(
        question_log_path=tmp_path / "a-file" / "questions.sqlite3", admin_key=Settings(admin_key=admin_key).admin_key
    )
    answer = client.post("/v1/ask", json={"question": "กระทรวงดิจิทัล", "read": False})
    assert answer.status_code == 200 and answer.json()["feedback_token"] is None
    deleted = client.delete("/v1/log?collection=default", headers={"Authorization": f"Bearer {admin_key}"})
    assert deleted.status_code == 503 and "could not be opened" in deleted.json()["detail"]


def test_questions_queued_together_are_all_written_and_a_call_after_them_sees_them(qlog):
    for i in range(600):  # more than one transaction's batch
        qlog.record(asked(f"คำถามที่ {i}"))
    assert len(qlog.rows("default")) <= 600
    qlog.flush()
    rows = qlog.rows("default")
    assert len(rows) == 600 and rows[0]["question"] == "คำถามที่ 0" and rows[-1]["question"] == "คำถามที่ 599"
