"""The assistant: one turn of a help conversation, the same on every channel.

The widget, ``POST /api/assist``, WeChat and LINE all call :func:`turn`, so a question gets the
same answer wherever it is asked, and "转人工" always ends in the request flow of the contact
form (validated, stored or spooled, never lost). No Flask and no database here: the caller
loads the conversation (:mod:`helpcenter.support.conversations`), passes the searcher, a way to
link an article and a way to create the request, and stores the state that comes back.

A turn is one of: a hand-over word (人工, human ...), which hands over at once; the next step
of a hand-over (contact, then an optional description); small talk (greetings, thanks), which
is not a search; a "是 / 否" to the last answer, or a pick among near-tied articles; otherwise
a question, searched alone and, when it is a short follow-up that is not confident alone,
together with the previous question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

import html
import unicodedata

from ..locales import catalog

KINDS = ("answer", "clarify", "suggest", "handoff", "smalltalk")
MAX_PASSAGE_CHARS = 600  # an answer quotes its section up to here (at a sentence end where one is near)
FOLLOW_UP_CHARS = 8      # a message this short ("那要多久？") may lean on the previous question
SEARCH_DEPTH = 5         # articles kept per question: the first answer and the ones "否" moves on to

# What people type, compared after normalise() (简体, lower case) without punctuation or spaces.
HUMAN = {"人工", "转人工", "真人", "人工客服", "真人客服", "找人工", "要人工", "转接人工", "人工服务", "我要人工",
         "human", "agent", "ahuman", "anagent", "humanagent", "liveagent", "realperson", "talktoahuman",
         "talktoanagent", "speaktoahuman", "speaktoanagent", "operator", "person", "aperson", "talktoaperson"}
GREETING = {"你好", "您好", "在吗", "在不在", "哈喽", "嗨", "你好呀", "早上好", "下午好", "晚上好",
            "hi", "hello", "hey", "hellothere", "goodmorning"}
THANKS = {"谢谢", "多谢", "谢啦", "感谢", "谢谢你", "谢谢您", "好的谢谢", "非常感谢", "thanks", "thankyou", "thx",
          "okthanks", "thanksalot"}
BYE = {"再见", "拜拜", "bye", "goodbye", "byebye", "seeyou"}
YES = {"是", "是的", "解决了", "已解决", "有用", "有帮助", "好了", "可以了", "对", "对的", "嗯", "yes", "y", "yeah",
       "yep", "solved", "ithelped", "yesthanks"}
NO = {"否", "不是", "没有", "没解决", "没有解决", "不行", "没用", "没帮助", "没有帮助", "不对", "no", "n", "nope",
      "notreally", "didnthelp", "itdidnthelp"}
NONE_OF_THESE = {"都不是", "都不对", "以上都不是", "都没有", "none", "noneofthese", "neither", "noneofthem"}
SKIP = {"跳过", "不用", "没有了", "无", "没有", "不用了", "skip", "no", "none", "nothing"}
CANCEL = {"取消", "算了", "不转了", "cancel", "nevermind"}

_PUNCT_RE = re.compile(r"[\W_]+")
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
PHONE_RE = re.compile(r"\+?[0-9][0-9 \-]{5,19}[0-9]")
_SENTENCE_END_RE = re.compile(r"[。！？!?.；;]")


def plain_normalise(text: str) -> str:
    """NFKC and lower case: what :func:`key` does without the engine's 繁→简 normaliser."""
    return unicodedata.normalize("NFKC", text).lower()


def plain_highlight(passage: str, _question: str) -> str:
    return html.escape(passage)


def key(message: str, normalise: Callable[[str], str] = plain_normalise) -> str:
    """How a message is compared with the word lists: 简体 (with the engine's normaliser), lower
    case, letters and digits only."""
    return _PUNCT_RE.sub("", normalise(message))


@dataclass
class Handoff:
    """What the person gave for the request; the caller turns it into a request like the form's."""
    email: str | None
    phone: str | None
    subject: str
    description: str
    question: str


@dataclass
class Created:
    """A stored (or spooled) request: the reference, the status page link (None while it waits in
    the spool or the link cannot be made) and whether it was spooled."""
    reference: str
    status_url: str | None = None
    queued: bool = False


class HandoffRefused(Exception):
    """The request was not taken: ``message`` says why, in the person's locale (a field was wrong,
    or neither the database nor the spool could take it)."""

    def __init__(self, message: str, outage: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.outage = outage


@dataclass
class Turn:
    """The reply, the conversation's new state, and the searches this turn made (for the log)."""
    reply: dict[str, Any]
    state: dict[str, Any]
    searches: list[Any] = field(default_factory=list)


def new_state() -> dict[str, Any]:
    return {"stage": "ask", "question": "", "offered": [], "options": [], "failures": 0,
            "contact": {}, "resolved": False, "handed_over": False, "reference": None}


class Assistant:
    """``search(text, locale)`` is :meth:`helpcenter.engine.search.Searcher.search`-like (``k`` and
    ``cut`` passed by keyword); ``link(article_id, anchor, locale)`` the article's absolute or
    site URL; ``create(handoff, locale)`` stores the request and returns :class:`Created`, or
    raises :class:`HandoffRefused`. ``normalise`` (繁→简, lower case) and ``highlight(passage,
    question)`` (escaped HTML with the question's words marked) come from the engine through the
    web layer, which may use both wings. ``clarify_margin``: fused-score gap under which the first
    articles count as tied; ``clarify_floor``: the best cosine under which a tie is not worth
    asking about (nothing relevant); ``result_cut``: suggestions further below the best are left
    out, as on the search page."""

    def __init__(self, search: Callable[..., Any], link: Callable[[str, str, str], str],
                 create: Callable[[Handoff, str], Created], *, clarify_margin: float = 0.02,
                 clarify_floor: float = 0.85, result_cut: float = 0.05,
                 normalise: Callable[[str], str] = plain_normalise,
                 highlight: Callable[[str, str], str] = plain_highlight) -> None:
        self.search = search
        self.normalise = normalise
        self.highlight = highlight
        self.result_cut = result_cut
        self.link = link
        self.create = create
        self.clarify_margin = clarify_margin
        self.clarify_floor = clarify_floor

    def turn(self, state: dict[str, Any] | None, message: str, locale: str) -> Turn:
        """Answer one message. ``state`` is what the previous turn returned (None: a new conversation)."""
        state = {**new_state(), **(state or {})}
        _ = _Texts(locale)
        k = key(message, self.normalise)
        stage = state["stage"]
        if k in HUMAN:
            return self._ask_contact(state, _)
        if stage == "contact":
            return self._contact(state, message, k, _)
        if stage == "description":
            return self._description(state, message, k, _, locale)
        if k in GREETING or k in THANKS or k in BYE:
            return self._smalltalk(state, k, _)
        if stage == "confirm" and k in YES:
            state.update(stage="ask", resolved=True, failures=0)
            return Turn(_say("smalltalk", _("太好了，问题解决了。还有其他问题可以直接问我。")), state)
        if stage == "confirm" and k in NO:
            return self._next(state, _, locale)
        if stage == "clarify":
            picked = self._pick(state, message, k)
            if picked == "none":
                return self._next(state, _, locale, refused_all=True)
            if picked is not None:
                return self._answer_id(state, picked, _, locale)
        return self._question(state, message, _, locale)

    # -- questions --

    def _question(self, state: dict[str, Any], message: str, _: "_Texts", locale: str) -> Turn:
        text = " ".join(message.split())
        response = self.search(text, locale=locale, k=SEARCH_DEPTH, cut=False)
        searches = [response]
        previous = state["question"]
        if previous and not response.confident and len(key(text, self.normalise)) <= FOLLOW_UP_CHARS:
            joined = self.search(f"{previous} {text}", locale=locale, k=SEARCH_DEPTH, cut=False)
            searches.append(joined)
            if joined.results and (joined.confident or not response.results
                                   or joined.results[0].score > response.results[0].score):
                response, text = joined, f"{previous} {text}"
        state.update(question=text, offered=[], options=[])
        hits = response.results
        if hits and response.confident:
            turn = self._answer(state, hits[0], text, _, locale)
        elif self._tied(hits):
            turn = self._clarify(state, hits, _, locale)
        else:
            turn = self._suggest(state, self._near(hits, hits), _, locale, failed=True)
        turn.searches = searches
        return turn

    def _near(self, hits: list[Any], ranked: list[Any]) -> list[Any]:
        """``hits`` within the result cut of the question's best article, as the search page keeps them."""
        if not hits or not self.result_cut:
            return hits
        return [h for h in hits if h.score >= ranked[0].score * (1 - self.result_cut)]

    def _tied(self, hits: list[Any]) -> bool:
        if len(hits) < 2 or hits[0].dense < self.clarify_floor:
            return False
        return hits[0].score - hits[1].score <= self.clarify_margin

    def _answer(self, state: dict[str, Any], hit: Any, question: str, _: "_Texts", locale: str,
                again: bool = False) -> Turn:
        passage = quote(hit.passage or hit.snippet)
        marked = self.highlight(passage, question)
        url = self.link(hit.id, hit.anchor, locale)
        state.update(stage="confirm", offered=state["offered"] + [hit.id], options=[])
        lead = _("那看看这篇：") if again else _("这篇文章应该能解答：")
        ask = _("解决了吗？")
        reply = {"kind": "answer", "message": lead, "passage": passage, "passage_html": marked,
                 "article": _article(hit, url), "ask": ask, "choices": [_("是"), _("否")],
                 "offer_handoff": state["failures"] >= 2,
                 "text": "\n".join([lead, f"【{hit.title}】", passage, url, "", ask + " " + _("回复“是”或“否”")]
                                   + ([_("也可以回复“人工”转人工客服")] if state["failures"] >= 2 else []))}
        return Turn(reply, state)

    def _answer_id(self, state: dict[str, Any], article_id: str, _: "_Texts", locale: str) -> Turn:
        hit = next((h for h in self._ranked(state, locale) if h.id == article_id), None)
        if hit is None:  # the index changed under the conversation: ask again
            return self._question(state, state["question"], _, locale)
        return self._answer(state, hit, state["question"], _, locale)

    def _ranked(self, state: dict[str, Any], locale: str) -> list[Any]:
        # The same question again: the searcher's answer cache makes this nearly free.
        return list(self.search(state["question"], locale=locale, k=SEARCH_DEPTH, cut=False).results)

    def _next(self, state: dict[str, Any], _: "_Texts", locale: str, refused_all: bool = False) -> Turn:
        """"否" to an answer (or "都不是"): the next article not offered yet, else ask to rephrase."""
        state["failures"] += 1
        refused = set(state["offered"]) | (set(state["options"]) if refused_all else set())
        ranked = self._ranked(state, locale) if state["question"] else []
        rest = [h for h in ranked if h.id not in refused]
        if rest and not refused_all and state["failures"] < 2:
            return self._answer(state, rest[0], state["question"], _, locale, again=True)
        return self._suggest(state, self._near(rest, ranked), _, locale, failed=False, sorry=True)

    def _clarify(self, state: dict[str, Any], hits: list[Any], _: "_Texts", locale: str) -> Turn:
        tied = [h for h in hits[:3] if hits[0].score - h.score <= self.clarify_margin]
        state.update(stage="clarify", options=[h.id for h in tied], titles={key(h.title, self.normalise): h.id for h in tied})
        message = _("您想问的是：")
        none = _("都不是")
        lines = [f"{i}. {h.title}" for i, h in enumerate(tied, 1)] + [f"{len(tied) + 1}. {none}"]
        reply = {"kind": "clarify", "message": message,
                 "articles": [_article(h, self.link(h.id, h.anchor, locale)) for h in tied],
                 "choices": [h.title for h in tied] + [none],
                 "text": "\n".join([message, *lines, _("回复序号即可。")])}
        return Turn(reply, state)

    def _suggest(self, state: dict[str, Any], hits: list[Any], _: "_Texts", locale: str, failed: bool,
                 sorry: bool = False) -> Turn:
        if failed:
            state["failures"] += 1
        state.update(stage="ask", options=[])
        if sorry:
            message = _("抱歉，没能解决您的问题。") + (_("也可以看看这几篇：") if hits else _("换个说法试试？"))
        elif hits:
            message = _("没有找到确切的答案。这几篇可能有关：")
        else:
            message = _("没有找到相关的文章，换个说法试试？")
        offer = True  # nothing confident: a person is always offered beside the guesses
        handoff = _("仍然没有解决？回复“人工”转人工客服。")
        shown = hits[:3]
        lines = [f"- {h.title} {self.link(h.id, h.anchor, locale)}" for h in shown]
        reply = {"kind": "suggest", "message": message,
                 "articles": [_article(h, self.link(h.id, h.anchor, locale)) for h in shown],
                 "offer_handoff": offer, "choices": [_("转人工")],
                 "text": "\n".join([message, *lines, handoff])}
        return Turn(reply, state)

    @staticmethod
    def _pick(state: dict[str, Any], message: str, k: str) -> str | None:
        """A pick among the near-tied articles: its number, its title, or "都不是" (``"none"``)."""
        options = state["options"]
        if k in NONE_OF_THESE or k == str(len(options) + 1):
            return "none"
        if k.isdigit() and 1 <= int(k) <= len(options):
            return options[int(k) - 1]
        return None if not message.strip() else state.get("titles", {}).get(k)

    # -- small talk --

    def _smalltalk(self, state: dict[str, Any], k: str, _: "_Texts") -> Turn:
        if k in THANKS:
            if state["stage"] == "confirm":  # thanks after an answer: it helped
                state.update(stage="ask", resolved=True, failures=0)
            message = _("不客气！还有其他问题可以随时问我。")
        elif k in BYE:
            message = _("再见，祝您顺利！")
        else:
            message = _("您好！请直接输入您的问题，我来帮您查找答案；需要人工客服请回复“人工”。")
        return Turn(_say("smalltalk", message), state)

    # -- hand-over --

    def _ask_contact(self, state: dict[str, Any], _: "_Texts") -> Turn:
        state.update(stage="contact", contact={})
        message = _("好的，为您转人工客服。请留下您的电子邮箱或手机号，客服会通过它回复您。（回复“取消”返回）")
        return Turn(_handoff("contact", message), state)

    def _contact(self, state: dict[str, Any], message: str, k: str, _: "_Texts") -> Turn:
        if k in CANCEL:
            state.update(stage="ask")
            return Turn(_say("smalltalk", _("好的，已取消。请继续提问。")), state)
        email = EMAIL_RE.search(message)
        phone = PHONE_RE.search(EMAIL_RE.sub(" ", message))
        if not email and not phone:
            return Turn(_handoff("contact", _("没有认出电子邮箱或手机号，请再发一次（例如 name@example.com 或 13800138000）。"),
                                 error="invalid_contact"), state)
        state.update(stage="description", contact={
            "email": email.group(0).lower() if email else None,
            "phone": re.sub(r"[ \-]", "", phone.group(0)) if phone else None})
        return Turn(_handoff("description", _("收到。还想补充什么情况吗？直接描述问题，或回复“跳过”。")), state)

    def _description(self, state: dict[str, Any], message: str, k: str, _: "_Texts", locale: str) -> Turn:
        if k in CANCEL:
            state.update(stage="ask", contact={})
            return Turn(_say("smalltalk", _("好的，已取消。请继续提问。")), state)
        question = state["question"]
        typed = "" if k in SKIP else message.strip()
        description = typed if len(typed) >= 10 else " ".join(
            filter(None, [typed, _("在智能助手里没有找到答案：%(q)s", q=question or typed or "-")]))
        subject = (question or typed or _("智能助手转人工"))[:120]
        if len(subject) < 2:
            subject = _("智能助手转人工")
        contact = state["contact"]
        try:
            created = self.create(Handoff(contact.get("email"), contact.get("phone"), subject, description,
                                          question), locale)
        except HandoffRefused as refused:
            if not refused.outage:  # a field was refused: ask for the contact again
                state.update(stage="contact", contact={})
            return Turn(_handoff("contact" if not refused.outage else "description", refused.message,
                                 error="storage_unavailable" if refused.outage else "invalid_contact"), state)
        state.update(stage="ask", handed_over=True, reference=created.reference, contact={})
        if created.queued:
            message = _("已记录您的求助，编号 %(ref)s。系统稍后保存，客服会尽快联系您。", ref=created.reference)
        else:
            message = _("已转人工客服，编号 %(ref)s。客服回复后会通知您，也可以在状态页查看进度。", ref=created.reference)
        reply = _handoff("created", message)
        reply.update(reference=created.reference, status_url=created.status_url, queued=created.queued)
        reply["text"] = message + (f"\n{created.status_url}" if created.status_url else "")
        return Turn(reply, state)


class _Texts:
    """The assistant's words in the conversation's locale (msgids are the 简体 text)."""

    def __init__(self, locale: str) -> None:
        self._gettext = catalog(locale).gettext

    def __call__(self, text: str, **values: Any) -> str:
        out = self._gettext(text)
        return out % values if values else out


def _say(kind: str, message: str) -> dict[str, Any]:
    return {"kind": kind, "message": message, "text": message}


def _handoff(step: str, message: str, error: str | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"kind": "handoff", "step": step, "message": message, "text": message}
    if error:
        reply["error"] = error
    return reply


def _article(hit: Any, url: str) -> dict[str, Any]:
    return {"id": hit.id, "title": hit.title, "url": url, "heading": hit.heading, "anchor": hit.anchor,
            "snippet": hit.snippet, "untranslated": hit.untranslated}


def quote(text: str, limit: int = MAX_PASSAGE_CHARS) -> str:
    """The section, whole if short, else cut at the last sentence end before ``limit``."""
    text = re.sub(r"\s*\n\s*", "\n", text).strip()
    if len(text) <= limit:
        return text
    head = text[:limit]
    ends = [m.end() for m in _SENTENCE_END_RE.finditer(head)]
    cut = ends[-1] if ends and ends[-1] > limit // 2 else limit
    return head[:cut].rstrip() + "…"
