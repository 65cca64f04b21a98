"""The assistant through ``POST /api/assist``, as a client would talk to it: answers with the
passage, "否" moves on, two failures offer a person, hand-over makes one request holding the
transcript, small talk is not a search, and bad messages get clear errors."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from helpcenter.db import Conversation, SearchLog
from helpcenter.support.assistant import key, quote

from .conftest import csrf_from


class Chat:
    """One client talking to the assistant: keeps the conversation id like the widget does."""

    def __init__(self, client, **extra) -> None:
        self.client = client
        self.token = csrf_from(client)
        self.id: str | None = None
        self.extra = extra

    def say(self, message: str, status: int = 200, **extra) -> dict:
        body = {"message": message, **self.extra, **extra}
        if self.id:
            body["conversation_id"] = self.id
        r = self.client.post("/api/assist", json=body, headers={"X-CSRFToken": self.token})
        assert r.status_code == status, r.get_data(as_text=True)
        data = r.get_json()
        self.id = data.get("conversation_id", self.id)
        return data if status != 200 else data["reply"]


def rows(app, model):
    storage = app.extensions["hc_storage"]
    with storage.session() as s:
        return list(s.scalars(select(model)))


def test_a_question_gets_its_answering_passage_and_a_yes_resolves_it(client, app):
    chat = Chat(client)
    reply = chat.say("密码想不起来了")
    assert reply["kind"] == "answer"
    assert reply["article"]["title"] == "忘记密码怎么重置"
    assert reply["article"]["url"].endswith("/articles/account/forgot-password#自己动手重置")
    # The section that answers, not the whole article: the other section is not quoted.
    assert "设置新密码" in reply["passage"] and "请客服协助" not in reply["passage"]
    assert "<mark>密码</mark>" in reply["passage_html"]
    assert reply["choices"] == ["是", "否"]
    assert chat.say("是")["kind"] == "smalltalk"
    (conv,) = rows(app, Conversation)
    assert conv.resolved and not conv.handed_over and conv.turns == 2
    assert [e["role"] for e in json.loads(conv.transcript)] == ["user", "assistant"] * 2


def test_no_moves_to_the_next_article_and_two_failures_offer_a_person(client):
    chat = Chat(client)
    first = chat.say("密码想不起来了")["article"]["id"]
    second = chat.say("否")
    assert second["kind"] == "answer" and second["article"]["id"] != first
    assert not second["offer_handoff"]
    third = chat.say("不是")  # the second failure in a row
    assert third["kind"] == "suggest" and third["offer_handoff"]
    assert "人工" in third["text"]


def test_handoff_collects_a_contact_and_makes_exactly_one_request_with_the_transcript(client, app):
    chat = Chat(client)
    chat.say("物流一直不更新")
    assert chat.say("转人工")["step"] == "contact"
    wrong = chat.say("我没有邮箱")
    assert wrong["step"] == "contact" and wrong["error"] == "invalid_contact"
    assert chat.say("我的邮箱是 Me@Example.com")["step"] == "description"
    done = chat.say("快递单号查不到任何物流信息，已经等了五天了。")
    assert done["step"] == "created" and done["reference"].startswith("HC-")
    assert done["status_url"] and "/requests/" in done["status_url"]
    esc = app.extensions["hc_storage"].get_escalation(done["reference"])
    assert esc.email == "me@example.com" and esc.subject == "物流一直不更新"
    assert esc.description == "快递单号查不到任何物流信息，已经等了五天了。"
    assert esc.category == "orders"  # from the article the conversation was about
    context = json.loads(esc.context)
    said = [e["text"] for e in context["transcript"] if e["role"] == "user"]
    assert said == ["物流一直不更新", "转人工", "我没有邮箱", "我的邮箱是 Me@Example.com",
                    "快递单号查不到任何物流信息，已经等了五天了。"]
    assert context["channel"] == "api" and context["conversation"] == chat.id
    # The status page the reply links to shows the request.
    page = client.get(done["status_url"].replace("http://localhost", ""))
    assert page.status_code == 200 and done["reference"] in page.get_data(as_text=True)
    assert len(rows(app, Conversation)) == 1 and rows(app, Conversation)[0].reference == done["reference"]


@pytest.mark.parametrize("word", ["人工", "轉人工", "真人", "Human", "agent", "talk to a human"])
def test_handover_words_hand_over_at_once_in_any_locale(client, word):
    assert Chat(client).say(word)["step"] == "contact"


def test_skipping_the_description_still_makes_a_request_that_says_what_was_asked(client, app):
    chat = Chat(client)
    chat.say("客服邮箱是多少")
    chat.say("人工")
    chat.say("13800138000")
    done = chat.say("跳过")
    esc = app.extensions["hc_storage"].get_escalation(done["reference"])
    assert esc.phone == "13800138000" and "客服邮箱是多少" in esc.description


def test_cancel_returns_to_questions(client):
    chat = Chat(client)
    chat.say("人工")
    assert chat.say("取消")["kind"] == "smalltalk"
    assert chat.say("密码想不起来了")["kind"] == "answer"


def test_small_talk_is_answered_and_not_logged_as_a_search(client, app):
    chat = Chat(client)
    for word in ("你好", "谢谢！", "再见"):
        assert chat.say(word)["kind"] == "smalltalk"
    chat.say("密码想不起来了")
    app.extensions["hc_search_log"].flush()
    logged = rows(app, SearchLog)
    assert [(r.query, r.source, r.channel) for r in logged] == [("密码想不起来了", "assist", "api")]
    assert logged[0].visit_id == "cv:" + chat.id


def test_a_short_follow_up_is_searched_with_the_previous_question(client, app):
    chat = Chat(client)
    chat.say("物流一直不更新")
    chat.say("查不到")  # short, and says nothing alone
    app.extensions["hc_search_log"].flush()
    queries = [r.query for r in rows(app, SearchLog)]
    assert "物流一直不更新 查不到" in queries


def test_replies_speak_the_conversations_locale(client):
    en = Chat(client, locale="en").say("hello")
    assert en["kind"] == "smalltalk" and "question" in en["message"].lower()
    hant = Chat(client, locale="zh-Hant").say("人工")
    assert "電子郵箱" in hant["message"] or "電郵" in hant["message"]


def test_the_conversation_survives_a_restart_of_the_app(make_app):
    """Another app over the same database (a restarted worker, or another node) takes the next turn."""
    chat = Chat(make_app().test_client())
    chat.say("人工")
    other = make_app().test_client()
    chat.client, chat.token = other, csrf_from(other)
    assert chat.say("me@example.com")["step"] == "description"


def test_a_conversation_ends_after_its_turns_and_the_client_gets_a_new_id(make_app):
    client = make_app(assist_max_turns=2).test_client()
    chat = Chat(client)
    chat.say("你好")
    chat.say("你好")
    old = chat.id
    token = chat.token
    r = client.post("/api/assist", json={"message": "你好", "conversation_id": old}, headers={"X-CSRFToken": token})
    assert r.get_json()["restarted"] and r.get_json()["conversation_id"] != old


def test_bad_messages_get_clear_errors(client):
    chat = Chat(client)
    assert chat.say("", 400)["fields"]["message"]
    too_long = chat.say("密" * 501, 400)
    assert too_long["errors"][0]["code"] == "too_long" and "501" in too_long["fields"]["message"][0]
    assert chat.say("你好", 400, conversation_id="../../etc")["errors"][0]["field"] == "conversation_id"
    assert chat.say("你好", 400, locale="fr")["errors"][0]["field"] == "locale"
    assert chat.say("你好", 400, extra=1)["errors"][0]["code"] == "unknown_field"
    r = client.post("/api/assist", data="not json", headers={"X-CSRFToken": chat.token})
    assert r.status_code == 400 and r.get_json()["code"] == "invalid_json"
    assert client.post("/api/assist", json={"message": "你好"}).status_code == 400  # no CSRF token


def test_with_the_database_down_questions_are_still_answered(make_app, tmp_path):
    app = make_app(database_url=f"sqlite:///{tmp_path}/missing/dir/db.sqlite")
    client = app.test_client()
    reply = client.post("/api/assist", json={"message": "密码想不起来了"}, headers={"X-CSRFToken": csrf_from(client)})
    assert reply.status_code == 200
    assert reply.get_json()["reply"]["kind"] == "answer" and reply.get_json()["saved"] is False


def test_message_keys_and_quotes():
    from helpcenter.engine.text import normalise

    assert key("轉人工！", normalise) == "转人工" and key("Thank you.") == "thankyou"
    long = "第一句。" * 200
    cut = quote(long, 100)
    assert cut.endswith("。…") and len(cut) <= 101


# -- personal data: conversations are exported, deleted and expire with the person's other data --

def handed_over(client, contact: str, question: str = "物流一直不更新") -> tuple[Chat, str]:
    chat = Chat(client)
    chat.say(question)
    chat.say("人工")
    chat.say(contact)
    return chat, chat.say("跳过")["reference"]


def test_export_and_delete_include_the_persons_conversations_and_nobody_elses(client, app, tmp_path):
    from helpcenter.support.privacy import delete_person, export_person

    mine, ref = handed_over(client, "me@example.com")
    theirs, _other = handed_over(client, "13800138000")
    storage, uploads = app.extensions["hc_storage"], tmp_path / "uploads"
    app.extensions["hc_search_log"].flush()  # the search log is written in the background
    data = export_person(storage, uploads, email="ME@example.com")
    (conv,) = data["conversations"]
    assert conv["id"] == mine.id and conv["reference"] == ref and conv["email"] == "me@example.com"
    assert "物流一直不更新" in [e["text"] for e in conv["transcript"]]
    # The searches of the conversation are the person's too (its visit is the conversation).
    assert [s["query"] for s in data["searches"]] == ["物流一直不更新"]
    plan = delete_person(storage, uploads, email="me@example.com", dry_run=True)
    assert plan.conversations == 1 and len(rows(app, Conversation)) == 2
    done = delete_person(storage, uploads, email="me@example.com")
    assert done.conversations == 1 and done.escalations == [ref]
    assert [c.id for c in rows(app, Conversation)] == [theirs.id]


def test_retention_deletes_old_conversations_and_the_transcript_kept_with_a_request(client, app, tmp_path):
    import datetime as dt

    from helpcenter.support.privacy import purge_expired

    chat, ref = handed_over(client, "me@example.com")
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=31)
    done = purge_expired(app.extensions["hc_storage"], tmp_path / "uploads", 30, now=later)
    assert done.conversations == 1 and rows(app, Conversation) == []
    esc = app.extensions["hc_storage"].get_escalation(ref)
    assert esc.email is None and "transcript" not in json.loads(esc.context)


# -- near ties: the turn logic alone, over a stand-in ranking (the searcher's own ties are rare on
#    four articles; the decision is what is under test) --

class Ranking:
    """Answers every search with the same ranking, like a searcher whose first articles are tied."""

    def __init__(self, scored: list[tuple[str, float]], confident: bool = False) -> None:
        from helpcenter.engine.results import Hit

        self.calls: list[str] = []
        self.results = [Hit(id=a, title=a.upper(), category="c", category_name="C", score=s, dense=0.9, heading="",
                            anchor="", snippet=f"{a} text", snippet_html=f"{a} text", confident=confident,
                            passage_kind="section", passage=f"{a} passage") for a, s in scored]
        self.confident = confident

    def __call__(self, text: str, **_kw):
        self.calls.append(text)
        return self


def assistant(ranking):
    from helpcenter.support.assistant import Assistant, HandoffRefused

    def refuse(_handoff, _locale):
        raise HandoffRefused("no")

    return Assistant(ranking, lambda a, anchor, loc: f"/articles/{a}", refuse)


def test_near_tied_articles_are_offered_as_a_choice_and_a_pick_answers():
    bot = assistant(Ranking([("a", 1.00), ("b", 0.99), ("c", 0.985), ("d", 0.5)]))
    turn = bot.turn(None, "怎么退款", "zh-Hans")
    assert turn.reply["kind"] == "clarify"
    assert turn.reply["choices"] == ["A", "B", "C", "都不是"]
    assert "1. A" in turn.reply["text"] and "4. 都不是" in turn.reply["text"]
    picked = bot.turn(turn.state, "2", "zh-Hans")
    assert picked.reply["kind"] == "answer" and picked.reply["article"]["id"] == "b"
    by_title = bot.turn(turn.state, "c", "zh-Hans")
    assert by_title.reply["article"]["id"] == "c"


def test_none_of_the_choices_counts_as_a_failure_and_offers_nothing_refused():
    bot = assistant(Ranking([("a", 1.00), ("b", 0.99), ("d", 0.5)]))
    turn = bot.turn(None, "怎么退款", "zh-Hans")
    none = bot.turn(turn.state, "都不是", "zh-Hans")
    assert none.reply["kind"] == "suggest" and none.state["failures"] == 1  # asking was no failure; this is
    assert {a["id"] for a in none.reply["articles"]} & {"a", "b"} == set()
    assert none.reply["offer_handoff"]  # nothing close is left to offer


def test_a_clear_lead_without_confidence_is_a_list_of_guesses_not_a_question():
    bot = assistant(Ranking([("a", 1.00), ("b", 0.90)]))
    turn = bot.turn(None, "怎么退款", "zh-Hans")
    assert turn.reply["kind"] == "suggest" and [a["id"] for a in turn.reply["articles"]] == ["a"]


def test_two_turns_of_one_conversation_at_once_store_one_and_refuse_the_other(app):
    import datetime as dt

    from helpcenter.support import conversations

    storage = app.extensions["hc_storage"]
    args = dict(channel="api", locale="zh-Hans", max_turns=10, max_age=dt.timedelta(hours=1))
    first = conversations.load(storage, None, **args)
    conversations.save(storage, first, {"stage": "ask"}, [{"role": "user", "text": "一"}], max_entries=10)
    a = conversations.load(storage, first.id, **args)
    b = conversations.load(storage, first.id, **args)  # read before a is stored: the same version
    conversations.save(storage, a, {"stage": "ask"}, [{"role": "user", "text": "二"}], max_entries=10)
    with pytest.raises(conversations.Conflict):
        conversations.save(storage, b, {"stage": "ask"}, [{"role": "user", "text": "三"}], max_entries=10)
    final = conversations.load(storage, first.id, **args)
    assert [e["text"] for e in final.transcript] == ["一", "二"] and final.version == 2


def test_a_messaging_user_is_found_by_a_hash_of_their_id_never_the_id(app):
    import datetime as dt

    from helpcenter.support import conversations

    storage = app.extensions["hc_storage"]
    key = conversations.user_key(app.secret_key, "line", "U4af4980629")
    args = dict(channel="line", locale="zh-Hant", max_turns=10, max_age=dt.timedelta(hours=1), key=key)
    conv = conversations.load(storage, None, **args)
    conversations.save(storage, conv, {"stage": "contact"}, [], max_entries=10)
    assert conversations.load(storage, None, **args).id == conv.id
    (row,) = rows(app, Conversation)
    assert row.user_key == key and "U4af4980629" not in json.dumps(row.as_json()) + (row.user_key or "")


def test_the_report_counts_conversations_resolutions_handovers_and_failed_questions(client, app):
    import datetime as dt

    from helpcenter.insights.report import build_report

    solved = Chat(client)
    solved.say("密码想不起来了")
    solved.say("是")
    handed_over(client, "me@example.com")
    Chat(client).say("你们公司在哪里招聘")  # nothing answers it
    app.extensions["hc_search_log"].flush()
    today = dt.datetime.now(dt.timezone.utc).date()
    report = build_report(app.extensions["hc_storage"], None, today, today)
    a = report.assistant
    assert (a["conversations"], a["resolved"], a["said_yes"], a["handed_over"]) == (3, 2, 1, 1)
    assert a["by_channel"] == {"api": 3}
    assert "你们公司在哪里招聘" in [f["query"] for f in a["failed_questions"]]
    assert report.summary["assist_searches"] == 3 and report.summary["api_searches"] == 0
    # The failed question is among the report's unanswered groups too: the writers' content gaps.
    assert "你们公司在哪里招聘" in [g.label for g in report.unanswered]
    assert "智能助手：对话 3 次" in report.to_text()
    assert any(r["section"] == "assistant_failed" for r in report.csv_rows())
