"""E-mails about an escalation: the confirmation to the person who asked for help and the
notice to the support inbox. They are sent by the outbox worker (helpcenter.support.delivery).

The requester's e-mails speak the locale they asked in (``esc.locale``); the support
team's notice stays in the site's default locale and names the requester's."""

from __future__ import annotations

import datetime as dt
import re
import smtplib
from email.message import EmailMessage
from typing import Any

from ..config import Settings
from ..locales import catalog

# Any control character (CR/LF above all) in a header would end it: one line, one space.
CONTROLS_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: str) -> str:
    """Text for a header (the subject): requests stored before fields were checked may hold CR/LF."""
    return " ".join(CONTROLS_RE.sub(" ", text or "").split())


def _gettext(esc: Any) -> Any:
    return catalog(getattr(esc, "locale", None)).gettext


def _follow_up(esc: Any, link: str | None) -> str:
    _ = _gettext(esc)
    if link:
        return _("查看进度、阅读回复或补充信息（截图也可以）：\n%(link)s\n请勿把这个链接转发给他人，凭它可以查看您的求助。") % {
            "link": link}
    return _("如需补充信息，请回复本邮件并保留编号。")


def _to_requester(settings: Settings, esc: Any, subject: str, middle: str, link: str | None) -> EmailMessage:
    """A message to the person who asked: greeting, ``middle``, how to follow up, signature."""
    _ = _gettext(esc)
    site = _(settings.site_name)  # the default name has a translation; a configured one is kept
    msg = EmailMessage()
    msg["Subject"] = one_line(f"[{site}] {subject}")
    msg["From"] = settings.mail_from
    msg["To"] = esc.email
    greeting = _("您好，%(name)s：") % {"name": esc.name} if esc.name else _("您好：")
    msg.set_content(f"{greeting}\n\n{middle}\n\n{_follow_up(esc, link)}\n\n{site}\n")
    return msg


def confirmation_message(settings: Settings, esc: Any, due: dt.datetime, link: str | None = None) -> EmailMessage:
    """``link``: the requester's status page (helpcenter.support.statuslink), when it can be made."""
    _ = _gettext(esc)
    values = {"reference": esc.reference, "subject": esc.subject, "due": f"{due:%Y-%m-%d %H:%M}",
              "zone": settings.support_timezone}
    return _to_requester(settings, esc, _("我们已收到您的求助 %(reference)s") % values,
                         _("我们已收到您的求助，编号 %(reference)s。\n主题：%(subject)s\n\n"
                           "客服预计在 %(due)s（%(zone)s）前回复您。") % values, link)


def reply_message(settings: Settings, esc: Any, body: str, link: str | None = None) -> EmailMessage:
    """An agent's reply, as the requester reads it in their mailbox."""
    _ = _gettext(esc)
    values = {"reference": esc.reference, "subject": esc.subject, "body": body}
    return _to_requester(settings, esc, _("客服回复了您的求助 %(reference)s：%(subject)s") % values,
                         _("客服回复了您的求助（编号 %(reference)s）：\n\n%(body)s") % values, link)


def support_message(settings: Settings, esc: Any, due: dt.datetime) -> EmailMessage:
    """The new request as the support team reads it; replying goes to the requester."""
    msg = EmailMessage()
    msg["Subject"] = one_line(f"[{settings.site_name}] 新求助 {esc.reference}：{esc.subject}")
    msg["From"] = settings.mail_from
    msg["To"] = settings.support_inbox
    if esc.email:
        try:
            msg["Reply-To"] = esc.email
        except ValueError:  # an address that cannot be a header: support still gets the request
            pass
    ctx = esc.as_json()["context"] if hasattr(esc, "as_json") else {}
    lines = [
        f"编号：{esc.reference}",
        f"提交时间：{esc.created_at:%Y-%m-%d %H:%M} UTC",
        f"应回复时间：{due:%Y-%m-%d %H:%M}（{settings.support_timezone}）",
        f"姓名：{esc.name or '-'}",
        f"电子邮箱：{esc.email or '-'}",
        f"手机号：{esc.phone or '-'}",
        f"类别：{esc.category}",
        f"设备/系统：{esc.device or '-'}",
        f"订单号：{esc.order_number or '-'}",
        f"语言：{getattr(esc, 'locale', None) or '-'}",
        f"主题：{esc.subject}",
        "",
        esc.description,
        "",
        f"最后搜索：{ctx.get('query') or '-'}",
        f"看过的文章：{', '.join(ctx.get('read') or []) or '-'}",
        f"标记为没有帮助：{', '.join(ctx.get('unhelpful') or []) or '-'}",
    ]
    if esc.attachments:
        lines.append("截图（保存在服务器的上传目录中）：")
        lines += [f"  {a.original_name} → {a.stored_name} ({a.size} bytes)" for a in esc.attachments]
    msg.set_content("\n".join(lines) + "\n")
    return msg


def send_mail(settings: Settings, msg: EmailMessage) -> None:
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(msg)


def send_confirmation(settings: Settings, esc: Any, due: dt.datetime) -> bool:
    """Returns whether a message was sent; no SMTP server or no e-mail address: nothing to do."""
    if not settings.smtp_host or not esc.email:
        return False
    send_mail(settings, confirmation_message(settings, esc, due))
    return True
