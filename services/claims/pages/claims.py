"""My invites and claims, and the progress claim itself: where Yes on an invite leads, shown, saved and
submitted."""

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from services.claims.domain import claims as domain
from services.claims.domain.claims import ClaimView, FieldErrors
from services.claims.pages.late_claims import late_request_csrf
from services.claims.pages.rendering import NOTICES, STALE_FORM, message, page
from services.claims.use_cases import claims as use_cases
from services.claims.use_cases.claims import ClaimExists, NotArrivedYet
from shared.csrf import csrf_token, csrf_token_is_valid
from shared.errors import ProblemForPerson
from shared.invite_links import invite_url
from shared.pages import form_text, is_uuid
from shared.sessions import Session, cookie_session

router = APIRouter(tags=["claim pages"], include_in_schema=False)

PREPARING_SECONDS = 5
PREPARING_ATTEMPTS = 24  # two minutes of waiting for what the link names before saying it is not known


# --- My invites and claims ---


@router.get("/claims", response_class=HTMLResponse)
async def my_invites_and_claims(request: Request, done: str = "") -> Response:
    session = cookie_session(request)
    if session is None:
        return _login_redirect(request)
    settings, now = request.app.state.settings, request.app.state.clock()
    mine = await use_cases.my_invites_and_claims(request.app.state.pool, session.user_id, now)
    context = {
        "invites": mine.invites,
        "claims": mine.claims,
        "commitments": mine.commitments,
        "now": now,
        "notice": NOTICES.get(done, ""),
        "invite_url": lambda invite_id: invite_url(settings, str(invite_id)),
        "new_claim_path": _new_claim_path,
    }
    return page(request, "my_claims.html", context)


# --- The progress claim ---


@router.get("/claims/new", response_class=HTMLResponse)
async def new_claim(
    request: Request, commitment: str = "", period: str = "", waited: int = 0, done: str = ""
) -> Response:
    """Where Yes on an invite leads, after logging in: the claim for the commitment and period when there is one,
    or what creating it would make and the button that does; after the due date, a contact gets the page with
    the banner saying whom to ask, and no button (rule 15). Opening it changes nothing (rule 10)."""
    session = cookie_session(request)
    if session is None:
        return _login_redirect(request)
    if not commitment or not is_uuid(period):
        return _incomplete_link(request)
    try:
        new = await use_cases.new_claim(
            request.app.state.pool, session.user_id, period, commitment, request.app.state.clock()
        )
    except NotArrivedYet:
        if waited >= PREPARING_ATTEMPTS:
            return _not_known(request)
        return _preparing(request, then=_new_claim_path(commitment, period, waited=waited + 1))
    except ProblemForPerson as problem:
        return _problem_page(request, problem)
    if new.existing_claim_id is not None:
        confirm = f"?done={done}" if done in NOTICES else ""
        return RedirectResponse(f"/claims/{new.existing_claim_id}{confirm}", status_code=303)
    notice = NOTICES.get(done, "")
    if new.refusal is not None:
        late_token = csrf_token(request.app.state.settings, late_request_csrf(session, commitment, period))
        return page(
            request, "new_claim.html", {"new": new, "csrf_token": "", "late_csrf_token": late_token, "notice": notice}
        )
    bound_to = _new_claim_csrf(session, new.commitment.commitment_id, new.period.period_id)
    context = {"new": new, "csrf_token": csrf_token(request.app.state.settings, bound_to), "notice": notice}
    return page(request, "new_claim.html", context)


@router.post("/claims/new", response_class=HTMLResponse)
async def create_claim(request: Request) -> Response:
    """The button of the page above: the claim is created, or found when a click before this one made it."""
    form = await request.form()
    commitment, period = form_text(form, "commitment"), form_text(form, "period")
    if not commitment or not is_uuid(period):
        return _incomplete_link(request)
    session = cookie_session(request)
    if session is None:
        return RedirectResponse("/login?" + urlencode({"next": _new_claim_path(commitment, period)}), status_code=303)
    pool, clock = request.app.state.pool, request.app.state.clock
    settings = request.app.state.settings
    if not csrf_token_is_valid(settings, form_text(form, "csrf_token"), _new_claim_csrf(session, commitment, period)):
        link = ("Open the New Progress Claim page", _new_claim_path(commitment, period))
        return message(request, 403, "Please use the New Progress Claim page", STALE_FORM, link=link)
    try:
        claim_id = await use_cases.open_new_claim(pool, session.user_id, period, commitment, clock())
    except NotArrivedYet:
        return _preparing(request, then=_new_claim_path(commitment, period))
    except ProblemForPerson as problem:
        return _problem_page(request, problem)
    return RedirectResponse(f"/claims/{claim_id}", status_code=303)


# --- A claim on a contact's behalf (rule 15), from the period board ---


@router.get("/claims/on-behalf", response_class=HTMLResponse)
async def on_behalf(request: Request, period: str = "", commitment: str = "", contact: str = "") -> Response:
    """What an administrator's claim on a contact's behalf would be, and the button that makes it; the claim
    itself when the commitment has one this period. Opening it changes nothing (rule 10)."""
    session = cookie_session(request)
    if session is None:
        return _login_redirect(request)
    if not commitment or not contact or not is_uuid(period):
        return _incomplete_on_behalf_link(request)
    try:
        asked = await use_cases.on_behalf(
            request.app.state.pool, session.user_id, period, commitment, contact, request.app.state.clock()
        )
    except NotArrivedYet:
        return _preparing(request)
    except ProblemForPerson as problem:
        return _on_behalf_problem(request, problem, period)
    if asked.existing_claim_id is not None:
        return RedirectResponse(f"/claims/{asked.existing_claim_id}", status_code=303)
    settings = request.app.state.settings
    context = {
        "asked": asked,
        "board_url": _board_url(request, period),
        "csrf_token": csrf_token(settings, _on_behalf_csrf(session, commitment, period, contact)),
    }
    return page(request, "on_behalf.html", context)


@router.post("/claims/on-behalf", response_class=HTMLResponse)
async def create_on_behalf(request: Request) -> Response:
    """The button of the page above: the claim is made, or found when a click before this one made it."""
    form = await request.form()
    period, commitment, contact = form_text(form, "period"), form_text(form, "commitment"), form_text(form, "contact")
    if not commitment or not contact or not is_uuid(period):
        return _incomplete_on_behalf_link(request)
    here = _on_behalf_path(period, commitment, contact)
    session = cookie_session(request)
    if session is None:
        return RedirectResponse("/login?" + urlencode({"next": here}), status_code=303)
    settings = request.app.state.settings
    if not csrf_token_is_valid(
        settings, form_text(form, "csrf_token"), _on_behalf_csrf(session, commitment, period, contact)
    ):
        link = ("Open the page again", here)
        return message(request, 403, "Please use the page to create the claim", STALE_FORM, link=link)
    try:
        view = await use_cases.create_on_behalf(
            request.app.state.pool, session.user_id, period, commitment, contact, request.app.state.clock()
        )
    except ClaimExists as exists:
        return RedirectResponse(f"/claims/{exists.claim_id}", status_code=303)
    except NotArrivedYet:
        return _preparing(request, then=here)
    except ProblemForPerson as problem:
        return _on_behalf_problem(request, problem, period)
    return RedirectResponse(f"/claims/{view.claim.claim_id}", status_code=303)


@router.get("/claims/{claim_id}", response_class=HTMLResponse)
async def show_claim(request: Request, claim_id: str, done: str = "") -> Response:
    session = cookie_session(request)
    if session is None:
        return _login_redirect(request)
    if not is_uuid(claim_id):
        return _no_such_claim(request)
    try:
        view = await use_cases.view_claim(request.app.state.pool, session.user_id, claim_id, request.app.state.clock())
    except NotArrivedYet:
        return _preparing(request)
    except ProblemForPerson as problem:
        return _problem_page(request, problem)
    return _claim_page(request, session, view, notice=NOTICES.get(done, ""))


@router.post("/claims/{claim_id}", response_class=HTMLResponse)
async def change_claim(request: Request, claim_id: str) -> Response:
    session = cookie_session(request)
    if session is None:
        return RedirectResponse("/login?" + urlencode({"next": f"/claims/{claim_id}"}), status_code=303)
    if not is_uuid(claim_id):
        return _no_such_claim(request)
    form = await request.form()
    pool, clock = request.app.state.pool, request.app.state.clock
    if not csrf_token_is_valid(
        request.app.state.settings, form_text(form, "csrf_token"), _claim_csrf(session, claim_id)
    ):
        return message(
            request, 403, "Please use the claim page", STALE_FORM, link=("Open the claim", f"/claims/{claim_id}")
        )
    submit = form_text(form, "action") == "submit"
    try:
        await use_cases.change_claim(pool, session.user_id, claim_id, _typed_amounts(form), submit, clock())
    except NotArrivedYet:
        return _preparing(request)
    except ProblemForPerson as problem:
        # The claim again, with the problem; or, when the claim itself is out of reach now, the problem alone.
        try:
            view = await use_cases.view_claim(pool, session.user_id, claim_id, clock())
        except (ProblemForPerson, NotArrivedYet):
            return _problem_page(request, problem)
        if isinstance(problem, FieldErrors):
            typed = {name: form_text(form, name) for name in form if name.startswith(("this_period.", "stored."))}
            return _claim_page(
                request, session, view, problem=str(problem), errors=problem.errors, typed=typed, status_code=422
            )
        return _claim_page(request, session, view, problem=str(problem), status_code=problem.status_code)
    return RedirectResponse(f"/claims/{claim_id}?done={'submitted' if submit else 'saved'}", status_code=303)


# --- Review (rule 18): the project's administrators approve a submitted claim or send it back ---


@router.get("/billing-periods/{period_id}/review", response_class=HTMLResponse)
async def period_review(request: Request, period_id: str) -> Response:
    """The period's claims for its administrators: the submitted ones with their totals, status and revision,
    and how the others stand."""
    session = cookie_session(request)
    if session is None:
        return _login_redirect(request)
    if not is_uuid(period_id):
        return message(request, 404, "There is no such billing period", "Check the link, or open the period board.")
    try:
        review = await use_cases.period_review(
            request.app.state.pool, session.user_id, period_id, request.app.state.clock()
        )
    except NotArrivedYet:
        return _preparing(request)
    except ProblemForPerson as problem:
        headings = {403: "Only the project's administrators can review its claims"}
        heading = headings.get(problem.status_code, "There is no such billing period")
        return message(request, problem.status_code, heading, str(problem))
    context = {"review": review, "board_url": _board_url(request, period_id)}
    return page(request, "review.html", context)


@router.post("/claims/{claim_id}/approval", response_class=HTMLResponse)
async def approve_claim(request: Request, claim_id: str) -> Response:
    """The claim page's Approve button."""

    async def approve(session: Session, form: FormData):
        pool, now = request.app.state.pool, request.app.state.clock()
        return await use_cases.approve(pool, session.user_id, claim_id, now)

    return await _review(request, claim_id, approve, done="approved")


@router.post("/claims/{claim_id}/revision-request", response_class=HTMLResponse)
async def request_revision(request: Request, claim_id: str) -> Response:
    """The claim page's Send back to revise form: a reason, notes per line, the day to resubmit by."""

    async def send_back(session: Session, form: FormData):
        notes = {name.split(".", 1)[1]: form_text(form, name) for name in form if name.startswith("note.")}
        pool, now = request.app.state.pool, request.app.state.clock()
        resubmit_by = domain.parse_day(form_text(form, "resubmit_by"))
        reason = form_text(form, "reason")
        return await use_cases.request_revision(pool, session.user_id, claim_id, reason, notes, resubmit_by, now)

    return await _review(request, claim_id, send_back, done="sent-back")


async def _review(request: Request, claim_id: str, review, done: str) -> Response:
    """What both review forms do: the session and CSRF token checked, the review made, and the claim shown
    again, with the messages next to the fields when something could not be taken."""
    session = cookie_session(request)
    if session is None:
        return RedirectResponse("/login?" + urlencode({"next": f"/claims/{claim_id}"}), status_code=303)
    if not is_uuid(claim_id):
        return _no_such_claim(request)
    form = await request.form()
    pool, clock = request.app.state.pool, request.app.state.clock
    if not csrf_token_is_valid(
        request.app.state.settings, form_text(form, "csrf_token"), _claim_csrf(session, claim_id)
    ):
        return message(
            request, 403, "Please use the claim page", STALE_FORM, link=("Open the claim", f"/claims/{claim_id}")
        )
    try:
        await review(session, form)
    except NotArrivedYet:
        return _preparing(request)
    except ProblemForPerson as problem:
        try:
            view = await use_cases.view_claim(pool, session.user_id, claim_id, clock())
        except (ProblemForPerson, NotArrivedYet):
            return _problem_page(request, problem)
        errors = problem.errors if isinstance(problem, FieldErrors) else {}
        typed = {
            name: form_text(form, name)
            for name in form
            if name in ("reason", "resubmit_by") or name.startswith("note.")
        }
        return _claim_page(
            request, session, view, problem=str(problem), errors=errors, typed=typed, status_code=problem.status_code
        )
    return RedirectResponse(f"/claims/{claim_id}?done={done}", status_code=303)


# --- How the pages are put together ---


def _on_behalf_path(period: str, commitment: str, contact: str) -> str:
    return "/claims/on-behalf?" + urlencode({"period": period, "commitment": commitment, "contact": contact})


def _on_behalf_csrf(session: Session, commitment_id: str, period_id: str, contact_user_id: str) -> str:
    return f"on-behalf:{commitment_id}:{period_id}:{contact_user_id}:{session.user_id}"


def _board_url(request: Request, period_id: str) -> str:
    """The period board on the periods service, where an administrator came from."""
    return f"{request.app.state.settings.periods_public_url.rstrip('/')}/billing-periods/{period_id}"


def _on_behalf_problem(request: Request, problem: ProblemForPerson, period_id: str) -> HTMLResponse:
    headings = {
        403: "Only the project's administrators can create a claim on a contact's behalf",
        404: "This billing period or commitment is not known",
        409: "No progress claim can be made for this commitment",
        422: "This person is not a contact of the commitment",
    }
    heading = headings.get(problem.status_code, "This cannot be done")
    link = ("Back to the period board", _board_url(request, period_id)) if problem.status_code != 403 else None
    return message(request, problem.status_code, heading, str(problem), link=link)


def _incomplete_on_behalf_link(request: Request) -> HTMLResponse:
    return message(
        request,
        400,
        "This link is not complete",
        "A link to create a claim on a contact's behalf names a billing period, a commitment and a contact. "
        "Open it again from the period board.",
    )


def _typed_amounts(form: FormData) -> dict[str, tuple[str, str]]:
    """line id -> (work completed this period, materials presently stored), as typed in the claim form."""
    lines = {name.split(".", 1)[1] for name in form if name.startswith(("this_period.", "stored."))}
    return {line: (form_text(form, f"this_period.{line}"), form_text(form, f"stored.{line}")) for line in lines}


def _new_claim_path(commitment: str, period: str, **more) -> str:
    return "/claims/new?" + urlencode({"commitment": commitment, "period": period, **more})


def _new_claim_csrf(session: Session, commitment_id: str, period_id: str) -> str:
    return f"new-claim:{commitment_id}:{period_id}:{session.user_id}"


def _claim_page(
    request: Request,
    session: Session,
    view: ClaimView,
    *,
    notice: str = "",
    problem: str = "",
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        "view": view,
        "notice": notice,
        "problem": problem,
        "errors": errors or {},
        "typed": typed or {},
        "csrf_token": csrf_token(request.app.state.settings, _claim_csrf(session, view.claim.claim_id)),
        "late_csrf_token": csrf_token(
            request.app.state.settings, late_request_csrf(session, view.commitment.commitment_id, view.period.period_id)
        )
        if view.may_ask_late
        else "",
        "board_url": _board_url(request, view.claim.period_id) if view.role == "administrator" else "",
        "review_url": f"/billing-periods/{view.claim.period_id}/review" if view.role == "administrator" else "",
        "now": request.app.state.clock(),
        "resubmit_by_default": domain.default_resubmit_by(request.app.state.clock(), view.commitment.timezone)
        if view.can_review
        else None,
    }
    return page(request, "claim.html", context, status_code)


def _login_redirect(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": here}), status_code=303)


def _problem_page(request: Request, problem: ProblemForPerson) -> HTMLResponse:
    headings = {
        403: "You cannot make this progress claim",
        404: "There is no such progress claim",
        409: "No progress claim can be made now",
    }
    heading = headings.get(problem.status_code, "This cannot be done")
    return message(request, problem.status_code, heading, str(problem), link=("My invites and claims", "/claims"))


def _incomplete_link(request: Request) -> HTMLResponse:
    return message(
        request,
        400,
        "This link is not complete",
        "A progress claim link names a commitment and a billing period. Open it again from your invite.",
    )


def _not_known(request: Request) -> HTMLResponse:
    return message(
        request,
        404,
        "This billing period or commitment is not known",
        "We have waited, and still know of no such billing period or commitment. Check the link, or ask "
        "the contractor who invited you.",
        link=("My invites and claims", "/claims"),
    )


def _no_such_claim(request: Request) -> HTMLResponse:
    return message(request, 404, "There is no such progress claim", "Check the link, or open My invites and claims.")


def _preparing(request: Request, then: str | None = None) -> HTMLResponse:
    """A page that says what the link names is still on its way here, and refreshes (to `then`, if given)."""
    return message(
        request,
        202,
        "Your claim is being prepared",
        "The billing period or the commitment has only just been set up and is still on its way here. This "
        f"page will refresh in {PREPARING_SECONDS} seconds.",
        refresh_seconds=PREPARING_SECONDS,
        refresh_url=then,
    )


def _claim_csrf(session: Session, claim_id: str) -> str:
    return f"claim:{claim_id}:{session.user_id}"
