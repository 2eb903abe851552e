"""Asking to claim late (rule 18b): the contact's request from the New Progress Claim page, and the page where
the project's administrators allow it until a day or refuse it with a reason."""

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.claims.domain import claims as domain
from services.claims.domain.claims import FieldErrors
from services.claims.pages.rendering import STALE_FORM, message, page
from services.claims.use_cases import late_claims as use_cases
from services.claims.use_cases.claims import NotArrivedYet
from services.claims.use_cases.late_claims import AlreadyAsked, LateRequestView
from shared.csrf import csrf_token, csrf_token_is_valid
from shared.errors import ProblemForPerson
from shared.pages import form_text, is_uuid
from shared.sessions import Session, cookie_session

router = APIRouter(tags=["late claim pages"], include_in_schema=False)


@router.post("/claims/late-requests", response_class=HTMLResponse)
async def ask_to_claim_late(request: Request) -> Response:
    """The New Progress Claim page's Ask … to let me claim late form, after the due date."""
    form = await request.form()
    commitment, period = form_text(form, "commitment"), form_text(form, "period")
    if not commitment or not is_uuid(period):
        return message(
            request,
            400,
            "This form is not complete",
            "A request to claim late names a commitment and a billing period. Open the New Progress Claim page again.",
        )
    back = "/claims/new?" + urlencode({"commitment": commitment, "period": period})
    session = cookie_session(request)
    if session is None:
        return RedirectResponse("/login?" + urlencode({"next": back}), status_code=303)
    if not csrf_token_is_valid(
        request.app.state.settings, form_text(form, "csrf_token"), late_request_csrf(session, commitment, period)
    ):
        return message(request, 403, "Please use the New Progress Claim page", STALE_FORM, link=("Open it", back))
    try:
        await use_cases.ask_to_claim_late(
            request.app.state.pool,
            session.user_id,
            period,
            commitment,
            form_text(form, "message"),
            request.app.state.clock(),
        )
    except AlreadyAsked as asked:
        return message(request, 409, "You have asked already", str(asked), link=("Back to the claim page", back))
    except NotArrivedYet:
        return message(request, 202, "Not known here yet", "Try again in a moment.", link=("Back", back))
    except ProblemForPerson as problem:
        return message(request, problem.status_code, "Nothing was asked", str(problem), link=("Back", back))
    return RedirectResponse(back + "&done=late-asked", status_code=303)


@router.get("/late-claim-requests/{request_id}", response_class=HTMLResponse)
async def late_request(request: Request, request_id: str, done: str = "") -> Response:
    """The request for the project's administrators, with Allow until and Refuse while it waits for its answer.
    Opening it changes nothing (rule 10)."""
    session = cookie_session(request)
    if session is None:
        return RedirectResponse("/login?" + urlencode({"next": request.url.path}), status_code=303)
    if not is_uuid(request_id):
        return _no_such_request(request)
    try:
        view = await use_cases.late_request(
            request.app.state.pool, session.user_id, request_id, request.app.state.clock()
        )
    except NotArrivedYet:
        return message(request, 202, "Not known here yet", "The period or commitment is on its way; try again.")
    except ProblemForPerson as problem:
        return _problem(request, problem)
    notice = {
        "allowed": "The late claim is allowed; the contact is emailed.",
        "refused": "The request is refused; the contact is emailed.",
    }.get(done, "")
    return _late_page(request, session, view, notice=notice)


@router.post("/late-claim-requests/{request_id}/allow", response_class=HTMLResponse)
async def allow_late_claim(request: Request, request_id: str) -> Response:
    async def allow(session: Session, form) -> LateRequestView:
        allowed_until = domain.parse_allowed_until(form_text(form, "allowed_until"))
        return await use_cases.allow_late_claim(
            request.app.state.pool, session.user_id, request_id, allowed_until, request.app.state.clock()
        )

    return await _answer(request, request_id, allow, done="allowed")


@router.post("/late-claim-requests/{request_id}/refuse", response_class=HTMLResponse)
async def refuse_late_claim(request: Request, request_id: str) -> Response:
    async def refuse(session: Session, form) -> LateRequestView:
        return await use_cases.refuse_late_claim(
            request.app.state.pool, session.user_id, request_id, form_text(form, "reason"), request.app.state.clock()
        )

    return await _answer(request, request_id, refuse, done="refused")


async def _answer(request: Request, request_id: str, answer, done: str) -> Response:
    here = f"/late-claim-requests/{request_id}"
    session = cookie_session(request)
    if session is None:
        return RedirectResponse("/login?" + urlencode({"next": here}), status_code=303)
    if not is_uuid(request_id):
        return _no_such_request(request)
    form = await request.form()
    if not csrf_token_is_valid(
        request.app.state.settings, form_text(form, "csrf_token"), _answer_csrf(session, request_id)
    ):
        return message(request, 403, "Please use the request's page", STALE_FORM, link=("Open it", here))
    try:
        await answer(session, form)
    except NotArrivedYet:
        return message(request, 202, "Not known here yet", "The period or commitment is on its way; try again.")
    except ProblemForPerson as problem:
        try:
            view = await use_cases.late_request(
                request.app.state.pool, session.user_id, request_id, request.app.state.clock()
            )
        except (ProblemForPerson, NotArrivedYet):
            return _problem(request, problem)
        errors = problem.errors if isinstance(problem, FieldErrors) else {}
        typed = {name: form_text(form, name) for name in ("allowed_until", "reason")}
        return _late_page(
            request, session, view, problem=str(problem), errors=errors, typed=typed, status_code=problem.status_code
        )
    return RedirectResponse(f"{here}?done={done}", status_code=303)


def _late_page(
    request: Request,
    session: Session,
    view: LateRequestView,
    *,
    notice: str = "",
    problem: str = "",
    errors: dict | None = None,
    typed: dict | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        "view": view,
        "notice": notice,
        "problem": problem,
        "errors": errors or {},
        "typed": typed or {},
        "csrf_token": csrf_token(request.app.state.settings, _answer_csrf(session, view.request.request_id)),
        "board_url": f"{request.app.state.settings.periods_public_url.rstrip('/')}/billing-periods/"
        f"{view.request.period_id}",
    }
    return page(request, "late_request.html", context, status_code)


def late_request_csrf(session: Session, commitment_id: str, period_id: str) -> str:
    return f"late-claim:{commitment_id}:{period_id}:{session.user_id}"


def _answer_csrf(session: Session, request_id: str) -> str:
    return f"late-answer:{request_id}:{session.user_id}"


def _problem(request: Request, problem: ProblemForPerson) -> HTMLResponse:
    headings = {403: "Only the project's administrators can answer a request to claim late"}
    heading = headings.get(problem.status_code, "There is no such request to claim late")
    return message(request, problem.status_code, heading, str(problem))


def _no_such_request(request: Request) -> HTMLResponse:
    return message(request, 404, "There is no such request to claim late", "Check the link in the email.")
