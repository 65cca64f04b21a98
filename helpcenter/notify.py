"""E-mail to the person who asked for help (when SMTP is configured)."""

from __future__ import annotations

import datetime as dt
import smtplib
from email.message import EmailMessage
from typing import Any

from .config import Settings


def confirmation_message(settings: Settings, esc: Any, due: dt.datetime) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = f"[{settings.site_name}] 我们已收到您的求助 {esc.reference}"
    msg["From"] = settings.mail_from
    msg["To"] = esc.email
    msg.set_content(
        f"您好{('，' + esc.name) if esc.name else ''}：\n\n"
        f"我们已收到您的求助，编号 {esc.reference}。\n"
        f"主题：{esc.subject}\n\n"
        f"客服预计在 {due:%Y-%m-%d %H:%M}（{settings.support_timezone}）前回复您。"
        f"如需补充信息，请回复本邮件并保留编号。\n\n{settings.site_name}\n"
    )
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
