"""The claims API: bearer tokens for API clients, and the administrators' claims (on a contact's behalf, and
the claims of a period)."""

import uuid
from datetime import date
from decimal import Decimal

from fastapi import APIRouter, Request
from pydantic import BaseModel, EmailStr, Field

from services.claims.domain import money
from services.claims.domain.claims import ClaimView
from services.claims.use_cases import accounts, claims, late_claims, payment_schedules
from services.claims.use_cases.claims import NotArrivedYet
from services.claims.use_cases.late_claims import LateRequestView
from shared.contracts.claims import ClaimTotals
from shared.errors import NotFound
from shared.service import client_address
from shared.sessions import CurrentSession, issue_session_token

router = APIRouter(prefix="/api", tags=["claims API"])


class Credentials(BaseModel):
    email: EmailStr
    password: str = Field(min_length=1)


class SessionToken(BaseModel):
    token: str
    token_type: str = "bearer"
    expires_in: int


class OnBehalfRequest(BaseModel):
    contact_user_id: str = Field(
        min_length=1, max_length=200, description="The progress claim contact (their ERP user id) the claim is for."
    )


class RevisionRequestIn(BaseModel):
    """Rule 18: why the claim is sent back, optional notes per schedule of values line, and the last day (in the
    project's time zone) to resubmit it by: five days from today when left out; never past, at most a year
    ahead."""

    reason: str = Field(min_length=1, max_length=4000)
    line_notes: dict[str, str] = Field(default_factory=dict, max_length=1000)
    resubmit_by: date | None = None


class PaymentScheduleDays(BaseModel):
    """Rule 18c: the business days the project allows for a payment schedule, at most its Act's figure."""

    days: int = Field(ge=1, le=60)


class ClaimOut(ClaimTotals):
    claim_id: str
    period_id: str
    project_id: str
    commitment_id: str
    commitment_number: str
    status: str
    revision: int = Field(description="How many times it has been submitted; 0 for a draft never submitted.")
    resubmit_by: date | None = Field(description="While sent back: the last day to resubmit it by.")
    payment_schedule_due: date | None = Field(
        default=None, description="Rule 18c: the day the builder's payment schedule is due (None: no clock)."
    )
    payment_schedule_clock_running: bool = Field(
        default=False, description="False once the claim is approved or sent back: the clock stopped."
    )
    review_reason: str = Field(description="While sent back: why.")
    line_notes: dict[str, str] = Field(description="While sent back: notes per schedule of values line.")
    contact: dict
    created_by: dict
    on_behalf: bool
    retention_percent: Decimal
    lines: list[money.Line]


@router.post("/sessions", status_code=201)
async def create_session(request: Request, credentials: Credentials) -> SessionToken:
    """A bearer token for the email and password (throttled like the login page)."""
    settings = request.app.state.settings
    logged_in = await accounts.log_in(
        request.app.state.pool,
        credentials.email,
        credentials.password,
        client_address(request),
        request.app.state.clock(),
        request.app.state.metrics,
    )
    person, version = logged_in.person, logged_in.session_version
    return SessionToken(
        token=issue_session_token(settings, person.id, person.email, session_version=version),
        expires_in=settings.session_max_age_seconds,
    )


@router.post("/billing-periods/{period_id}/commitments/{commitment_id}/claims", status_code=201)
async def create_claim_on_behalf(
    request: Request, session: CurrentSession, period_id: str, commitment_id: str, body: OnBehalfRequest
) -> ClaimOut:
    """An administrator creates the claim for a named contact, before or after the due date (rule 15)."""
    view = await claims.create_on_behalf(
        request.app.state.pool,
        session.user_id,
        _period_id(period_id),
        commitment_id,
        body.contact_user_id,
        request.app.state.clock(),
    )
    return _claim_out(view)


@router.get("/billing-periods/{period_id}/claims")
async def claims_of_period(request: Request, session: CurrentSession, period_id: str) -> list[ClaimOut]:
    views = await claims.claims_of_period(
        request.app.state.pool, session.user_id, _period_id(period_id), request.app.state.clock()
    )
    return [_claim_out(view) for view in views]


@router.get("/claims/{claim_id}")
async def claim(request: Request, session: CurrentSession, claim_id: str) -> ClaimOut:
    try:
        view = await claims.view_claim(
            request.app.state.pool, session.user_id, _uuid(claim_id, "progress claim"), request.app.state.clock()
        )
    except NotArrivedYet as error:
        raise NotFound("The claim's period or commitment has not reached the claims service yet.") from error
    return _claim_out(view)


@router.post("/claims/{claim_id}/approval")
async def approve_claim(request: Request, session: CurrentSession, claim_id: str) -> ClaimOut:
    """An administrator of the project approves the submitted claim (rule 18); announced as
    ProgressClaimApproved. Approving it again changes nothing; a claim not under review is a 409."""
    try:
        view = await claims.approve(
            request.app.state.pool, session.user_id, _uuid(claim_id, "progress claim"), request.app.state.clock()
        )
    except NotArrivedYet as error:
        raise NotFound("The claim's period or commitment has not reached the claims service yet.") from error
    return _claim_out(view)


@router.post("/claims/{claim_id}/revision-request")
async def request_revision(
    request: Request, session: CurrentSession, claim_id: str, body: RevisionRequestIn
) -> ClaimOut:
    """An administrator of the project sends the submitted claim back to its contact (rule 18), who may change
    and resubmit it until `resubmit_by`, even after the due date; announced as ProgressClaimRevisionRequested."""
    try:
        view = await claims.request_revision(
            request.app.state.pool,
            session.user_id,
            _uuid(claim_id, "progress claim"),
            body.reason,
            body.line_notes,
            body.resubmit_by,
            request.app.state.clock(),
        )
    except NotArrivedYet as error:
        raise NotFound("The claim's period or commitment has not reached the claims service yet.") from error
    return _claim_out(view)


@router.put("/projects/{project_id}/payment-schedule-days")
async def set_payment_schedule_days(
    request: Request, session: CurrentSession, project_id: str, body: PaymentScheduleDays
) -> PaymentScheduleDays:
    """An administrator of the project sets an earlier number of business days for payment schedules than the
    project's Security of Payment Act allows (rule 18c); a later one, or a project without such an Act, is a 422."""
    days = await payment_schedules.set_schedule_days(
        request.app.state.pool, session.user_id, project_id, body.days, request.app.state.clock()
    )
    return PaymentScheduleDays(days=days)


class AllowLateIn(BaseModel):
    """Rule 18b: the last day (in the project's time zone) the contact may create and submit the claim: three days
    from today when left out; never past, at most 60 days ahead."""

    allowed_until: date | None = None


class RefuseLateIn(BaseModel):
    """Rule 18b: why the request is refused; the contact reads it."""

    reason: str = Field(min_length=1, max_length=2000)


class LateRequestOut(BaseModel):
    request_id: str
    period_id: str
    project_id: str
    commitment_id: str
    contact: dict
    message: str | None
    status: str = Field(description="pending, allowed or refused")
    allowed_until: date | None
    reason: str | None


@router.post("/late-claim-requests/{request_id}/allow")
async def allow_late_claim(
    request: Request, session: CurrentSession, request_id: str, body: AllowLateIn
) -> LateRequestOut:
    """An administrator of the project lets the contact claim late, for that commitment and period, until the end
    of `allowed_until` (rule 18b); announced as ClaimWindowExtended. A request answered already is a 409."""
    try:
        view = await late_claims.allow_late_claim(
            request.app.state.pool,
            session.user_id,
            _uuid(request_id, "request to claim late"),
            body.allowed_until,
            request.app.state.clock(),
        )
    except NotArrivedYet as error:
        raise NotFound("The request's period or commitment has not reached the claims service yet.") from error
    return _late_out(view)


@router.post("/late-claim-requests/{request_id}/refuse")
async def refuse_late_claim(
    request: Request, session: CurrentSession, request_id: str, body: RefuseLateIn
) -> LateRequestOut:
    """An administrator of the project refuses the request to claim late with a reason (rule 18b); announced as
    LateClaimRequestRefused. A request answered already is a 409."""
    try:
        view = await late_claims.refuse_late_claim(
            request.app.state.pool,
            session.user_id,
            _uuid(request_id, "request to claim late"),
            body.reason,
            request.app.state.clock(),
        )
    except NotArrivedYet as error:
        raise NotFound("The request's period or commitment has not reached the claims service yet.") from error
    return _late_out(view)


def _late_out(view: LateRequestView) -> LateRequestOut:
    late = view.request
    return LateRequestOut(
        request_id=late.request_id,
        period_id=late.period_id,
        project_id=late.project_id,
        commitment_id=late.commitment_id,
        contact=late.contact.model_dump(),
        message=late.message,
        status=late.status,
        allowed_until=late.allowed_until,
        reason=late.reason,
    )


def _period_id(period_id: str) -> str:
    return _uuid(period_id, "billing period")


def _uuid(text: str, what: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError as error:
        raise NotFound(f"There is no {what} {text}.") from error


def _claim_out(view: ClaimView) -> ClaimOut:
    claim, worked_out = view.claim, view.worked_out
    return ClaimOut(
        claim_id=claim.claim_id,
        period_id=claim.period_id,
        project_id=claim.project_id,
        commitment_id=claim.commitment_id,
        commitment_number=view.commitment.number,
        status=claim.status,
        revision=claim.revision,
        resubmit_by=claim.resubmit_by if claim.status == "revise_and_resubmit" else None,
        review_reason=claim.review_reason if claim.status == "revise_and_resubmit" else "",
        line_notes=claim.line_notes if claim.status == "revise_and_resubmit" else {},
        contact=claim.contact.model_dump(),
        created_by=claim.created_by.model_dump(),
        on_behalf=claim.on_behalf,
        payment_schedule_due=claim.payment_schedule_due,
        payment_schedule_clock_running=claim.payment_schedule_clock_running,
        currency=view.commitment.currency,
        retention_percent=worked_out.retention_percent,
        lines=list(worked_out.lines),
        **worked_out.totals(),
    )
