"""Jinja2 rendering of the messages: autoescaped HTML, a plain-text part, an SMS text."""

from __future__ import annotations

import re
from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ifuno_notification.domain.messages import Message

_html = Environment(
    loader=PackageLoader("ifuno_notification", "templates"),
    autoescape=select_autoescape(["html"], default_for_string=True),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    auto_reload=False,
)
_text = Environment(
    loader=PackageLoader("ifuno_notification", "templates"),
    autoescape=False,
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    auto_reload=False,
)


# Block tags swallow the newline after them: paragraphs are separated by at most one
# blank line, whatever the template's own spacing.
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def render_email(message: Message) -> RenderedEmail:
    context = {**message.context, "subject": message.subject}
    return RenderedEmail(
        subject=message.subject,
        text=_BLANK_LINES.sub(
            "\n\n", _text.get_template(f"email/{message.template}.txt").render(context)
        ),
        html=_html.get_template(f"email/{message.template}.html").render(context),
    )


def render_sms(message: Message) -> str:
    """The text, signed by the office of the candidate's regime."""
    text = _text.get_template(f"sms/{message.template}.txt").render(message.context).strip()
    return f"{text} - {message.context['office'].sms}"
