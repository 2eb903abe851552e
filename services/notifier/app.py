"""Bootstrap: what the notifier consumes, and its workers that send invites, password links, claim reviews and
requests to claim late with their answers."""

from services.notifier import subscribers
from services.notifier.mail.late_claims import LateClaimMailWorker
from services.notifier.mail.smtp import SmtpMailer
from services.notifier.mail.workers import (
    ClaimReviewMailWorker,
    InviteMailWorker,
    PasswordMailWorker,
    PaymentScheduleReminderWorker,
)
from shared.contracts.accounts import PasswordLinkRequested
from shared.contracts.claims import (
    ClaimWindowExtended,
    LateClaimRequested,
    LateClaimRequestRefused,
    ProgressClaimApproved,
    ProgressClaimCreated,
    ProgressClaimRevisionRequested,
    ProgressClaimSubmitted,
)
from shared.contracts.erp import CommitmentUpserted
from shared.contracts.periods import BillingPeriodOpened, InvitesResendRequested
from shared.contracts.responses import InviteAccepted, InviteDeclined
from shared.contracts.topics import ACCOUNTS, BILLING_CLAIMS, BILLING_PERIODS, BILLING_RESPONSES, ERP_COMMITMENTS
from shared.erp import erp_routes
from shared.messaging import Route
from shared.period_view import period_routes
from shared.service import ServiceDefinition, ServiceResources


def subscriptions(clock):
    routes = erp_routes() | period_routes()
    routes[ERP_COMMITMENTS] = {
        CommitmentUpserted.TYPE: Route(CommitmentUpserted, subscribers.commitment_changed(clock)),
    }
    routes[BILLING_PERIODS] |= {
        BillingPeriodOpened.TYPE: Route(BillingPeriodOpened, subscribers.period_opened),
        InvitesResendRequested.TYPE: Route(InvitesResendRequested, subscribers.resend_requested),
    }
    routes[BILLING_RESPONSES] = {
        InviteAccepted.TYPE: Route(InviteAccepted, subscribers.invite_accepted),
        InviteDeclined.TYPE: Route(InviteDeclined, subscribers.invite_declined),
    }
    routes[BILLING_CLAIMS] = {
        ProgressClaimCreated.TYPE: Route(ProgressClaimCreated, subscribers.claim_created),
        ProgressClaimSubmitted.TYPE: Route(ProgressClaimSubmitted, subscribers.claim_submitted),
        ProgressClaimApproved.TYPE: Route(ProgressClaimApproved, subscribers.claim_approved),
        ProgressClaimRevisionRequested.TYPE: Route(
            ProgressClaimRevisionRequested, subscribers.claim_revision_requested
        ),
        # Rule 18b: a request to claim late, to the administrator asked; its answer, to the contact.
        **{
            step.TYPE: Route(step, subscribers.late_claim_step)
            for step in (LateClaimRequested, ClaimWindowExtended, LateClaimRequestRefused)
        },
    }
    routes[ACCOUNTS] = {
        PasswordLinkRequested.TYPE: Route(PasswordLinkRequested, subscribers.password_link_requested),
    }
    return routes


def workers(resources: ServiceResources):
    # One mailer for all: together they keep to the mail server's connection limit.
    mailer = SmtpMailer(resources.settings)
    return [
        InviteMailWorker(resources, mailer),
        PasswordMailWorker(resources, mailer),
        ClaimReviewMailWorker(resources, mailer),
        PaymentScheduleReminderWorker(resources, mailer),
        LateClaimMailWorker(resources, mailer),
    ]


definition = ServiceDefinition(
    name="notifier",
    title="Invite to Bill: notifier",
    subscriptions=subscriptions,
    workers=workers,
)
