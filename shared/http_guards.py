"""What every service puts in front of its routes: a bound on request bodies, and the headers that tell a browser
what a page may do (load, frame, post to, send as Referer).

Both are plain ASGI middleware, so they hold for every route alike: the pages, the APIs, the health checks, the
API docs, the stylesheet, and the framework's own refusals (404, 405, 422).
"""

import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from fastapi.responses import JSONResponse, Response
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.pages import shared_message_page
from shared.settings import Settings

log = logging.getLogger(__name__)

TOO_LARGE_HEADING = "This was too much to send"


def too_large_message(max_bytes: int) -> str:
    return (
        f"Nothing was done: the request is larger than the {max_bytes // 1024} KiB this service accepts. "
        "Send less at once; no form or request of this service needs more."
    )


class BodyLimit:
    """Refuses a request whose body is over `max_bytes` with 413, before any route sees it.

    A declared Content-Length over the limit is refused without reading; a body sent in chunks (no
    Content-Length) is read up to the limit and refused as soon as it passes it. The body is read ahead, at
    most `max_bytes`, and handed on to the route as one piece. A request with neither Content-Length nor
    Transfer-Encoding (most GETs) has no body, so it goes straight on.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, declared=int(declared))
            return
        if declared in ("", "0") and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more_body = True
        while more_body:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before it finished sending: there is no one to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, declared=None)
                return
            chunks.append(chunk)
            more_body = message.get("more_body", False)
        await self.app(scope, _replaying(b"".join(chunks), receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, declared: int | None) -> None:
        log.warning(
            "request refused: its body is over the limit",
            extra={"path": scope.get("path"), "declared_bytes": declared, "limit_bytes": self.max_bytes},
        )
        response = refusal(Request(scope, receive), 413, TOO_LARGE_HEADING, too_large_message(self.max_bytes))
        # The rest of the body is not read: the connection is closed rather than kept for another request.
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def refusal(request: Request, status_code: int, heading: str, detail: str, **more: object) -> Response:
    """A refused request answered as its sender reads it: a message page for a browser, JSON (`detail`, and
    `more`) for an API client."""
    if "text/html" in request.headers.get("accept", ""):
        return shared_message_page(request, status_code, heading, detail)
    return JSONResponse({"detail": detail, **more}, status_code)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body read ahead, then whatever the client sends next (its disconnect)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def content_security_policy(form_targets: Iterable[str]) -> str:
    """The pages' policy: scripts, styles and images from the service itself only (no inline script or style),
    never framed, forms posted only to `form_targets` (a form whose answer redirects to another service counts
    as posting there too)."""
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action " + " ".join(form_targets),
        )
    )


# FastAPI's API docs load Swagger UI and ReDoc from their CDN and start them with an inline script. They show the
# API's description and nothing of anyone's data, so they alone may do that; framing stays forbidden.
_API_DOCS_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
        "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com",
        "font-src https://fonts.gstatic.com",
        "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    )
)


class SecurityHeaders:
    """Adds the security headers to every response: the Content-Security-Policy, no MIME sniffing, no Referer
    (links may carry a token that is someone's key: an invite, a password link), and HSTS when the service is
    reached over https."""

    def __init__(self, app: ASGIApp, settings: Settings, api_docs_paths: Iterable[str] = ()):
        self.app = app
        self.api_docs_paths = frozenset(api_docs_paths)
        own_url = getattr(settings, f"{settings.service_name}_public_url", "")
        self.headers = {
            "Content-Security-Policy": content_security_policy(["'self'", *_service_origins(settings)]),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        }
        if urlsplit(own_url).scheme == "https":
            self.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        # Encoded once, as the response's raw headers hold them.
        self._raw = _raw_headers(self.headers)
        self._raw_for_api_docs = _raw_headers(self.headers | {"Content-Security-Policy": _API_DOCS_POLICY})
        self._names = {name for name, _ in self._raw}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ours = self._raw_for_api_docs if scope.get("path") in self.api_docs_paths else self._raw

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Ours replace any the route set.
                given = [header for header in message.get("headers", ()) if header[0].lower() not in self._names]
                message["headers"] = given + ours
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _raw_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


def _service_origins(settings: Settings) -> list[str]:
    """The public origins of the services: a page's form may post to one, or be answered by a redirect to one
    (Yes on an invite leads to the claims service)."""
    urls = (
        settings.periods_public_url,
        settings.notifier_public_url,
        settings.responses_public_url,
        settings.claims_public_url,
    )
    origins = []
    for url in urls:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if parts.scheme in ("http", "https") and parts.netloc and origin not in origins:
            origins.append(origin)
    return origins
