"""What every service's web pages share: the base template and message page, and how a page is rendered."""

import uuid
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData

_SHARED_TEMPLATES = Path(__file__).parent / "templates"
# The pages' stylesheet, which every service serves at /static: their Content-Security-Policy allows no inline style.
STATIC_FILES = Path(__file__).parent / "static"


def templates_for(service_templates: Path) -> Jinja2Templates:
    """The service's own templates, then the shared ones (`base.html`, `message.html`); always autoescaped, each
    compiled once (not checked for changes on every page: a service is restarted to change them)."""
    loader = ChoiceLoader([FileSystemLoader(service_templates), FileSystemLoader(_SHARED_TEMPLATES)])
    environment = Environment(loader=loader, autoescape=select_autoescape(default=True), auto_reload=False)
    return Jinja2Templates(env=environment)


def render(
    templates: Jinja2Templates, request: Request, template: str, context: dict, status_code: int = 200
) -> HTMLResponse:
    """The page for `request`; its security headers (no Referer, no inline script) are added to every response
    by `shared.http_guards`. The templates use only `context`."""
    return HTMLResponse(templates.get_template(template).render(context), status_code)


def message_page(
    templates: Jinja2Templates,
    request: Request,
    status_code: int,
    heading: str,
    message: str,
    *,
    refresh_seconds: int = 0,
    refresh_url: str | None = None,
    link: tuple[str, str] | None = None,
) -> HTMLResponse:
    """A page that says one thing; it refreshes after `refresh_seconds` (to `refresh_url`, or itself), and
    `link` is (text, url) for where to go next."""
    context = {
        "heading": heading,
        "message": message,
        "refresh_seconds": refresh_seconds,
        "refresh_url": refresh_url,
        "link": link,
    }
    return render(templates, request, "message.html", context, status_code)


def is_uuid(text: str) -> bool:
    """Whether an id taken from a link or form is a UUID at all: if not, the page says "no such" rather than the
    database refusing it."""
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def form_text(form: FormData, name: str) -> str:
    """A form field as text: the last of a repeated field, "" when missing, and a file sent in its place as text
    that no field accepts (U+FFFD), so that it is refused as what it is not."""
    value = form.get(name, "")
    return value if isinstance(value, str) else "\ufffd"


def shared_message_page(request: Request, status_code: int, heading: str, message: str) -> HTMLResponse:
    """A message page for a service that has no pages of its own, or a request no route has seen yet."""
    return message_page(_shared_templates, request, status_code, heading, message)


_shared_templates = templates_for(_SHARED_TEMPLATES)
