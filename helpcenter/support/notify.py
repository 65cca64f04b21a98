"""E-mails about an escalation: the confirmation to the person who asked for help and the
notice to the support inbox. They are sent by the outbox worker (helpcenter.support.delivery)."""

from __future__ import annotations

import datetime as dt
import re
import smtplib
from email.message import EmailMessage
from typing import Any

from ..config import Settings

# Any control character (CR/LF above all) in a header would end it: one line, one space.
CONTROLS_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: str) -> str:
    """Text for a header (the subject): requests stored before fields were checked may hold CR/LF."""
    return " ".join(CONTROLS_RE.sub(" ", text or "").split())


def _follow_up(link: str | None) -> str:
    if link:
        return f"查看进度、阅读回复或补充信息（截图也可以）：\n{link}\n请勿把这个链接转发给他人，凭它可以查看您的求助。"
    return "如需补充信息，请回复本邮件并保留编号。"


def _to_requester(settings: Settings, esc: Any, subject: str, middle: str, link: str | None) -> EmailMessage:
    """A message to the person who asked: greeting, ``middle``, how to follow up, signature."""
    msg = EmailMessage()
    msg["Subject"] = one_line(f"[{settings.site_name}] {subject}")
    msg["From"] = settings.mail_from
    msg["To"] = esc.email
    msg.set_content(f"您好{('，' + esc.name) if esc.name else ''}：\n\n{middle}\n\n"
                    f"{_follow_up(link)}\n\n{settings.site_name}\n")
    return msg


def confirmation_message(settings: Settings, esc: Any, due: dt.datetime, link: str | None = None) -> EmailMessage:
    """``link``: the requester's status page (helpcenter.support.statuslink), when it can be made."""
    return _to_requester(settings, esc, f"我们已收到您的求助 {esc.reference}",
                         f"我们已收到您的求助，编号 {esc.reference}。\n主题：{esc.subject}\n\n"
                         f"客服预计在 {due:%Y-%m-%d %H:%M}（{settings.support_timezone}）前回复您。", link)


def reply_message(settings: Settings, esc: Any, body: str, link: str | None = None) -> EmailMessage:
    """An agent's reply, as the requester reads it in their mailbox."""
    return _to_requester(settings, esc, f"客服回复了您的求助 {esc.reference}：{esc.subject}",
                         f"客服回复了您的求助（编号 {esc.reference}）：\n\n{body}", link)


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
