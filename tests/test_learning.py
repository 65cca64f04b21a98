"""Search learns from use (insights/learning.py): evidence from real visits (search, click, vote,
escalate), agents' resolutions, writers' decisions on /admin and from `helpcenter learn`, on
SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from helpcenter.cli import main
from helpcenter.config import ConfigError, load_settings
from helpcenter.db import Feedback, LearnedQuestion, SearchClick, SearchLog, utcnow
from helpcenter.engine.text import normalise
from helpcenter.insights import learning
from helpcenter.support import staff, tickets
from helpcenter.support.privacy import delete_person

from .conftest import csrf_from
from .test_analytics import app, flush  # noqa: F401  (the site on SQLite and PostgreSQL)
from .databases import database_url, store  # noqa: F401  (fixtures: sqlite and postgresql)
from .test_inbox_web import sign_in
from .test_web import contact_form

FORGOT = "account/forgot-password"
STOLEN = "account/stolen-account"
QUERY = "忘了密码咋办"  # finds FORGOT, but search is not confident: what learning is for


def result_links(html: str) -> list[str]:
    return re.findall(r'class="result-title" href="([^"]+)"', html)


def visit(app, query: str = QUERY, article: str = FORGOT, *, vote: str | None = None, escalate: bool = False,
          times: int = 1, person=None):
    """One visitor, as a person does it: searches, clicks ``article`` in the results, maybe votes
    and asks for help. ``times``: the search and the click again and again (the same visit)."""
    person = person or app.test_client()
    for _ in range(times):
        html = person.get("/search", query_string={"q": query}).get_data(as_text=True)
        [link] = [link for link in result_links(html) if link.startswith(f"/articles/{article}?from=")]
        assert person.get(link).status_code == 302  # the click is recorded, then the clean URL
    if vote:
        r = person.post(f"/articles/{article}/feedback", data={"csrf_token": csrf_from(person), "helpful": vote})
        assert r.status_code == 302
    if escalate:
        assert person.post("/contact", data=contact_form(person)).status_code == 302
    flush(app)
    return person


def storage(app):
    return app.extensions["hc_storage"]


def evidence_of(app, query: str = QUERY, article: str = FORGOT, **kw):
    found = [e for e in learning.evidence(storage(app), normalise=normalise, **kw)
             if (e.query, e.article) == (query, article)]
    return found[0] if found else None


def candidate_pairs(app, threshold: float = 3.0, **kw) -> dict[tuple[str, str], str | None]:
    return {(c.query, c.article): c.status
            for c in learning.candidates(storage(app), threshold, normalise=normalise, **kw)}


def visit_of(client) -> str:
    with client.session_transaction() as sess:
        return sess.get("vid", "")


def test_visits_that_search_click_and_vote_build_evidence(app):
    voter = visit(app, vote="yes")
    visit(app)
    with storage(app).session() as s:
        [vote] = s.scalars(select(Feedback)).all()
    assert vote.visit_id == visit_of(voter) and vote.visit_id  # the vote knows its visit now

    ev = evidence_of(app)
    assert (ev.visits, ev.positive_visits, ev.negative_visits, ev.agent_links) == (2, 2, 0, 0)
    assert ev.score == pytest.approx(3.0, abs=1e-3)  # a click with "有帮助" 2, a click 1 (minutes old)
    assert candidate_pairs(app, 2.9) == {(QUERY, FORGOT): None}
    assert candidate_pairs(app, 3.5) == {}

    stranger = app.test_client()  # a vote from a visit that never searched: nothing to tie it to
    stranger.post(f"/articles/{FORGOT}/feedback", data={"csrf_token": csrf_from(stranger), "helpful": "yes"})
    with storage(app).session() as s:
        assert s.scalars(select(Feedback.visit_id).order_by(Feedback.id)).all()[-1] is None
    assert evidence_of(app).score == pytest.approx(ev.score, abs=1e-3)


def test_one_visit_clicking_fifty_times_counts_once(app):
    hammer = visit(app, vote="yes", times=50)
    with storage(app).session() as s:
        assert len(s.scalars(select(SearchClick)).all()) == 50  # every click was logged
    ev = evidence_of(app)
    assert (ev.visits, ev.positive_visits) == (1, 1) and ev.score == pytest.approx(2.0, abs=1e-3)
    # Even a threshold one visit clears is not enough: one visitor cannot teach search alone.
    assert candidate_pairs(app, 1.0) == {}
    visit(app, person=hammer)  # the same visitor again
    assert candidate_pairs(app, 1.0) == {}
    visit(app)  # a second, different visit
    assert candidate_pairs(app, 1.0) == {(QUERY, FORGOT): None}


def test_an_escalated_or_unhelpful_visit_counts_against(app):
    visit(app)
    visit(app)
    assert evidence_of(app).score == pytest.approx(2.0, abs=1e-3)
    visit(app, escalate=True)  # clicked, read, then still asked for help
    ev = evidence_of(app)
    assert (ev.visits, ev.positive_visits, ev.negative_visits) == (3, 2, 1)
    assert ev.score == pytest.approx(1.0, abs=1e-3)
    visit(app, vote="no")
    assert evidence_of(app).score == pytest.approx(0.0, abs=1e-3)
    assert candidate_pairs(app, 1.0) == {}


def test_an_agent_resolution_counts_most_and_meets_the_search_log_query(app):
    person = app.test_client()
    person.get("/search", query_string={"q": "忘記密碼  怎麼辦"})  # Traditional, two spaces: no click
    r = person.post("/contact", data=contact_form(person, subject="密码忘了"))
    ref = r.headers["Location"].rsplit("/", 1)[1]
    flush(app)
    agent = tickets.Actor.staff(staff.add_staff(storage(app), "agent@example.com", "agent", "a long enough passphrase"))
    tickets.solve(storage(app), ref, agent, article=STOLEN)
    with storage(app).session() as s:
        logged = s.scalar(select(SearchLog.query))
    assert logged == "忘记密码 怎么办"

    ev = evidence_of(app, logged, STOLEN)  # the request's query, normalised like the log's
    assert (ev.agent_links, ev.visits, ev.score) == (1, 0, 3.0)
    assert candidate_pairs(app) == {(logged, STOLEN): None}  # no visits needed once an agent linked it
    visit(app, vote="yes")
    assert evidence_of(app).score < ev.score  # one visit with a vote: less than one agent's answer
    # A reopened request's resolution did not hold: it teaches nothing.
    tickets.reopen(storage(app), ref, days=7)
    assert evidence_of(app, logged, STOLEN) is None


def test_a_blocked_pair_never_comes_back(app):
    visit(app, vote="yes")
    visit(app, vote="yes")
    assert candidate_pairs(app) == {(QUERY, FORGOT): None}
    learning.decide(storage(app), QUERY, FORGOT, "blocked", "writer@example.com")
    for _ in range(3):
        visit(app, vote="yes")
    assert evidence_of(app).positive_visits == 5  # the evidence is still counted...
    assert candidate_pairs(app) == {}  # ...but never offered again
    assert learning.learned_questions(storage(app), "auto") == []
    assert learning.learned_questions(storage(app), "reviewed") == []


def test_accepted_pairs_are_learned_per_mode(app):
    visit(app, vote="yes")
    visit(app, vote="yes")
    visit(app, "找回账号", STOLEN)  # one visit: evidence, no candidate
    assert learning.learned_questions(storage(app), "reviewed") == []  # candidates wait for a writer
    assert learning.learned_questions(storage(app), "auto", 3.0) == [(FORGOT, QUERY)]

    decision = learning.decide(storage(app), "  找回账号 ", STOLEN, "accepted", "writer@example.com")
    assert decision.query == "找回账号"
    assert learning.learned_questions(storage(app), "reviewed") == [(STOLEN, "找回账号")]
    assert learning.learned_questions(storage(app), "auto", 3.0) == [(FORGOT, QUERY), (STOLEN, "找回账号")]
    assert learning.learned_questions(storage(app), "off") == []
    with pytest.raises(ValueError):
        learning.learned_questions(storage(app), "sometimes")

    # Deciding again replaces the decision (one row per pair), and accepted candidates say so.
    learning.decide(storage(app), QUERY, FORGOT, "blocked", "a@example.com")
    learning.decide(storage(app), QUERY, FORGOT, "accepted", "b@example.com")
    assert candidate_pairs(app) == {(QUERY, FORGOT): "accepted"}
    with storage(app).session() as s:
        rows = s.scalars(select(LearnedQuestion).where(LearnedQuestion.query == QUERY)).all()
    assert [(r.status, r.decided_by) for r in rows] == [("accepted", "b@example.com")]
    with pytest.raises(ValueError):
        learning.decide(storage(app), QUERY, FORGOT, "maybe", "a@example.com")


def log_click(store, visit_id: str, query: str, article: str, when: dt.datetime) -> None:  # noqa: F811
    with store.session() as s, s.begin():
        row = SearchLog(key=secrets.token_hex(8), created_at=when, visit_id=visit_id, source="api", query=query,
                        results=json.dumps([article]), confident=False, escalated=False)
        s.add(row)
        s.flush()
        s.add(SearchClick(search_id=row.id, article_id=article, rank=1, created_at=when))


def test_evidence_fades_with_age_and_api_visits_count_like_site_visits(store):  # noqa: F811
    now = utcnow()
    log_click(store, "api:client-one", "退款多久到账", "orders/refund", now - dt.timedelta(days=30))
    log_click(store, "api:client-two", "退款多久到账", "orders/refund", now - dt.timedelta(days=60))
    [ev] = learning.evidence(store, now=now, half_life_days=30.0)
    assert (ev.visits, ev.positive_visits) == (2, 2)
    assert ev.score == pytest.approx(0.5 + 0.25)
    assert [c.article for c in learning.candidates(store, 0.7, now=now)] == ["orders/refund"]
    assert learning.candidates(store, 0.7, now=now + dt.timedelta(days=30)) == []  # a month later: 0.375
    assert learning.evidence(store, now=now, half_life_days=1.0) == []  # beyond the horizon: not even read


def test_the_admin_page_lists_candidates_and_its_buttons_decide(app):
    visit(app, vote="yes")
    visit(app, vote="yes")
    writer = sign_in(app, "writer")
    html = writer.get("/admin").get_data(as_text=True)
    assert "搜索学到的问题" in html
    section = html[html.index('id="learned"'):]
    assert QUERY in section and "忘记密码怎么重置" in section and "采纳" in section and "屏蔽" in section
    assert f"<code>  - {QUERY}</code>" in section  # the line a writer could add to `questions` instead

    form = {"query": QUERY, "article": FORGOT, "status": "accepted", "since": "", "until": ""}
    refused = writer.post("/admin/learned", data=form)  # no CSRF token
    assert refused.status_code == 400
    assert learning.decisions(storage(app)) == []

    r = writer.post("/admin/learned", data={**form, "csrf_token": csrf_from(writer)})
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/#learned")  # back to the section
    [d] = learning.decisions(storage(app))
    assert (d.query, d.article, d.status, d.decided_by) == (QUERY, FORGOT, "accepted", "writer@example.com")
    page = writer.get("/admin").get_data(as_text=True)
    assert "已采纳：“忘了密码咋办” → 忘记密码怎么重置" in page
    assert learning.learned_questions(storage(app), "reviewed") == [(FORGOT, QUERY)]

    r = writer.post("/admin/learned", data={**form, "status": "blocked", "since": "2026-11-01",
                                            "csrf_token": csrf_from(writer)})
    assert r.status_code == 302 and "since=2026-11-01" in r.headers["Location"]  # the period shown stays
    assert candidate_pairs(app) == {}
    table = writer.get("/admin").get_data(as_text=True).split('id="learned"')[1].split("</section>")[0]
    assert "已屏蔽" in table and "还没有足够的证据" in table  # listed as a decision, no longer a candidate

    bad = writer.post("/admin/learned", data={**form, "article": "account/nope", "csrf_token": csrf_from(writer)})
    assert bad.status_code == 400 and "没有这篇文章" in bad.get_data(as_text=True)
    bad = writer.post("/admin/learned", data={**form, "status": "maybe", "csrf_token": csrf_from(writer)})
    assert bad.status_code == 400

    agent = sign_in(app, "agent")
    assert agent.post("/admin/learned", data={**form, "csrf_token": csrf_from(agent)}).status_code == 403
    assert agent.get("/admin").status_code == 403
    assert [x.decided_by for x in learning.decisions(storage(app))] == ["writer@example.com"]
    anonymous = app.test_client()
    r = anonymous.post("/admin/learned", data={**form, "csrf_token": csrf_from(anonymous)})
    assert r.status_code == 302 and len(learning.decisions(storage(app))) == 1  # sent to sign in


def test_learn_commands(app, built):
    visit(app, vote="yes")
    visit(app, vote="yes")
    env = {"HELPCENTER_INSTANCE_DIR": app.instance_path, "HELPCENTER_MODEL": "hash", "HELPCENTER_USER_DICT": "",
           "HELPCENTER_DATABASE_URL": app.extensions["hc_settings"].database_url,
           "HELPCENTER_INDEX_DIR": built.index_dir, "HELPCENTER_ARTICLES_DIR": built.articles_dir}
    runner = CliRunner()

    listed = runner.invoke(main, ["learn", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.stdout)
    assert [(c["query"], c["article"], c["positive_visits"]) for c in data["candidates"]] == [(QUERY, FORGOT, 2)]
    assert data["mode"] == "reviewed" and data["next_build"] == [] and data["decisions"] == []
    auto = json.loads(runner.invoke(main, ["learn", "list", "--json"], env={**env, "HELPCENTER_LEARNING": "auto"})
                      .stdout)
    assert auto["next_build"] == [{"article": FORGOT, "query": QUERY}]

    # Typed by hand: normalised like a search (Traditional, full-width), so it meets the log's queries.
    r = runner.invoke(main, ["learn", "accept", "號被盜了", STOLEN, "--by", "writer@example.com"], env=env)
    assert r.exit_code == 0, r.output
    assert "已采纳：号被盗了 → account/stolen-account" in r.output
    r = runner.invoke(main, ["learn", "block", QUERY, FORGOT], env=env)
    assert r.exit_code == 0, r.output
    data = json.loads(runner.invoke(main, ["learn", "list", "--json"], env=env).stdout)
    assert data["candidates"] == []
    assert {(d["query"], d["status"]) for d in data["decisions"]} == {("号被盗了", "accepted"), (QUERY, "blocked")}
    assert [d["decided_by"] for d in data["decisions"] if d["status"] == "blocked"][0].startswith("cli")
    assert data["next_build"] == [{"article": STOLEN, "query": "号被盗了"}]
    text = runner.invoke(main, ["learn", "list"], env=env)
    assert text.exit_code == 0 and "已屏蔽" in text.output and "号被盗了 → account/stolen-account" in text.output

    unknown = runner.invoke(main, ["learn", "accept", QUERY, "account/nope"], env=env)
    assert unknown.exit_code == 2 and "account/nope" in unknown.output
    empty = runner.invoke(main, ["learn", "block", "   ", FORGOT], env=env)
    assert empty.exit_code == 2 and "Traceback" not in empty.output


def test_deleting_a_persons_data_unlinks_their_visits_votes(app):
    person = visit(app, vote="yes")
    assert person.post("/contact", data=contact_form(person, email="li@example.com")).status_code == 302
    other = visit(app, vote="yes")
    flush(app)
    removal = delete_person(storage(app), app.extensions["hc_upload_dir"], email="li@example.com")
    assert removal.searches == 1
    with storage(app).session() as s:
        votes = s.scalars(select(Feedback).order_by(Feedback.id)).all()
    assert [(v.helpful, v.visit_id) for v in votes] == [(True, None), (True, visit_of(other))]  # still counted
    ev = evidence_of(app)
    assert (ev.visits, ev.positive_visits) == (1, 1)  # only the other visit's evidence is left


def test_learning_settings_are_validated():
    assert load_settings(env={}).learning == "reviewed"
    for env, name in (({"HELPCENTER_LEARNING": "sometimes"}, "learning"),
                      ({"HELPCENTER_LEARN_THRESHOLD": "0"}, "learn_threshold"),
                      ({"HELPCENTER_LEARN_HALF_LIFE_DAYS": "-1"}, "learn_half_life_days")):
        with pytest.raises(ConfigError, match=name):
            load_settings(env=env)


def test_what_visitors_teach_reaches_the_index_and_a_blocked_pair_stays_out(make_app, tmp_path):
    """End to end: visits through the real web app (search, click, 有帮助), then `helpcenter
    build-index` reads what was learned from the site's database; the taught query now finds the
    article by its own passage, a paraphrase too, and a blocked pair never becomes one."""
    app = make_app()  # SQLite in the instance folder, where the command line finds it
    settings = app.extensions["hc_settings"]
    for _ in range(2):
        visit(app, vote="yes")
    visit(app, "号被人偷了", STOLEN, vote="yes")
    visit(app, "号被人偷了", STOLEN, vote="yes")
    learning.decide(storage(app), normalise("号被人偷了"), STOLEN, "blocked", "writer@example.com")
    from pathlib import Path

    from helpcenter.engine.embed import HashEmbedder
    from helpcenter.engine.index import load_current
    from helpcenter.engine.search import Searcher

    def best_passages(*queries: str) -> list[str]:
        """The kind of passage each query matches best (character BM25), in the build of the moment."""
        from helpcenter.engine.text import char_ngrams

        live = load_current(Path(settings.index_dir))
        return [live.passages[int(live.keyword["chars"].scores(char_ngrams(q)).argmax())]["kind"] for q in queries]

    assert best_passages(QUERY, "忘了密码该咋办呢") != ["learned", "learned"]
    env = {"HELPCENTER_INSTANCE_DIR": settings.instance_dir, "HELPCENTER_ARTICLES_DIR": settings.articles_dir,
           "HELPCENTER_INDEX_DIR": settings.index_dir, "HELPCENTER_MODEL": "hash", "HELPCENTER_USER_DICT": "",
           "HELPCENTER_LEARNING": "auto", "HELPCENTER_LEARN_THRESHOLD": "2.5"}
    res = CliRunner().invoke(main, ["build-index", "--quiet"], env=env)
    assert res.exit_code == 0, res.output
    assert "learned questions: 1, demoted: 0 (auto)" in res.output
    idx = load_current(Path(settings.index_dir))
    assert [(p["article"], p["text"]) for p in idx.passages if p["kind"] == "learned"] == [(FORGOT, QUERY)]
    # The query taught, and a paraphrase of it, now match the learned passage best, and rank its article first.
    assert best_passages(QUERY, "忘了密码该咋办呢") == ["learned", "learned"]
    searcher = Searcher(settings.with_overrides(retrieval="keyword"), embedder=HashEmbedder(256))
    assert [searcher.search(q).results[0].id for q in (QUERY, "忘了密码该咋办呢")] == [FORGOT, FORGOT]
    # Reviewed-only (the default) learns nothing until a writer accepts it.
    res = CliRunner().invoke(main, ["build-index", "--quiet"], env={**env, "HELPCENTER_LEARNING": "reviewed"})
    assert res.exit_code == 0, res.output
    assert not [p for p in load_current(Path(settings.index_dir)).passages if p["kind"] == "learned"]


def test_a_build_without_its_database_still_publishes(make_app, tmp_path, monkeypatch):
    app = make_app()
    settings = app.extensions["hc_settings"]
    visit(app, vote="yes")
    env = {"HELPCENTER_INSTANCE_DIR": settings.instance_dir, "HELPCENTER_ARTICLES_DIR": settings.articles_dir,
           "HELPCENTER_INDEX_DIR": settings.index_dir, "HELPCENTER_MODEL": "hash", "HELPCENTER_USER_DICT": "",
           "HELPCENTER_LEARNING": "auto", "HELPCENTER_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"}
    res = CliRunner().invoke(main, ["build-index", "--quiet"], env=env)
    assert res.exit_code == 0, res.output
    assert "learned questions: database unavailable" in res.output and "building without them" in res.output


def test_an_article_visitors_keep_saying_did_not_help_is_demoted_until_a_writer_accepts_it(make_app):
    """End to end: three visits search, open the article and vote "没有帮助"; the article is listed
    as demoted (/admin, `helpcenter learn list`), `helpcenter build-index` stores the demotion and
    search then ranks it lower for that question, still listing it; a writer's acceptance lifts it."""
    from pathlib import Path

    from helpcenter.engine.embed import HashEmbedder
    from helpcenter.engine.index import load_current
    from helpcenter.engine.search import Searcher

    app = make_app()
    settings = app.extensions["hc_settings"]
    for _ in range(2):
        visit(app, vote="no")
    assert learning.demotions(storage(app), 3.0, normalise=normalise) == []  # -2: not yet
    visit(app, escalate=True)  # read it and still asked for a person: against too
    [demoted] = learning.demotions(storage(app), 3.0, normalise=normalise)
    assert (demoted.query, demoted.article, demoted.negative_visits) == (QUERY, FORGOT, 3)
    assert learning.demoted_questions(storage(app), "reviewed") == [(FORGOT, QUERY, 0.5)]
    assert learning.demoted_questions(storage(app), "off") == []
    assert candidate_pairs(app, 0.1) == {}

    writer = sign_in(app, "writer")
    section = writer.get("/admin").get_data(as_text=True).split('id="demoted"')[1].split("</table>")[0]
    assert QUERY in section and "忘记密码怎么重置" in section and "采纳" in section
    env = {"HELPCENTER_INSTANCE_DIR": settings.instance_dir, "HELPCENTER_ARTICLES_DIR": settings.articles_dir,
           "HELPCENTER_INDEX_DIR": settings.index_dir, "HELPCENTER_MODEL": "hash", "HELPCENTER_USER_DICT": ""}
    listed = json.loads(CliRunner().invoke(main, ["learn", "list", "--json"], env=env).stdout)
    assert listed["next_build_demoted"] == [{"article": FORGOT, "query": QUERY, "strength": 0.5}]

    searcher = Searcher(settings.with_overrides(result_cut=0.0, max_guesses=0), embedder=HashEmbedder(256))
    before = {h.id: h.score for h in searcher.search(QUERY, 10).results}
    res = CliRunner().invoke(main, ["build-index", "--quiet"], env=env)
    assert res.exit_code == 0, res.output
    assert "demoted: 1" in res.output
    assert load_current(Path(settings.index_dir)).manifest["counts"]["demoted"] == 1
    after = {h.id: h.score for h in searcher.search(QUERY, 10).results}
    assert FORGOT in after and after[FORGOT] == pytest.approx(before[FORGOT] * (1 - settings.demote_max * 0.5),
                                                              rel=1e-3)

    learning.decide(storage(app), QUERY, FORGOT, "accepted", "writer@example.com")  # "it does answer this"
    assert learning.demotions(storage(app), 3.0, normalise=normalise) == []
    assert CliRunner().invoke(main, ["build-index", "--quiet"], env=env).exit_code == 0
    assert {h.id: h.score for h in searcher.search(QUERY, 10).results}[FORGOT] >= before[FORGOT]
