"""Bootstrap: what the notifier consumes, and its workers that send invites and password links."""

from services.notifier import handlers
from services.notifier.delivery import DeliveryWorker
from services.notifier.mailer import SmtpMailer
from services.notifier.password_delivery import PasswordMailWorker
from shared.erp import erp_routes
from shared.events import (
    ACCOUNTS,
    BILLING_CLAIMS,
    BILLING_PERIODS,
    BILLING_RESPONSES,
    ERP_COMMITMENTS,
    BillingPeriodClosed,
    BillingPeriodDueDateChanged,
    BillingPeriodOpened,
    CommitmentUpserted,
    InviteAccepted,
    InviteDeclined,
    InvitesResendRequested,
    PasswordLinkRequested,
    ProgressClaimCreated,
)
from shared.messaging import Route
from shared.service import ServiceDefinition, ServiceResources


def subscriptions(clock):
    routes = erp_routes()
    routes[ERP_COMMITMENTS] = {
        CommitmentUpserted.TYPE: Route(CommitmentUpserted, handlers.commitment_changed(clock)),
    }
    routes[BILLING_PERIODS] = {
        BillingPeriodOpened.TYPE: Route(BillingPeriodOpened, handlers.period_opened),
        BillingPeriodDueDateChanged.TYPE: Route(BillingPeriodDueDateChanged, handlers.due_date_changed),
        BillingPeriodClosed.TYPE: Route(BillingPeriodClosed, handlers.period_closed),
        InvitesResendRequested.TYPE: Route(InvitesResendRequested, handlers.resend_requested),
    }
    routes[BILLING_RESPONSES] = {
        InviteAccepted.TYPE: Route(InviteAccepted, handlers.invite_accepted),
        InviteDeclined.TYPE: Route(InviteDeclined, handlers.invite_declined),
    }
    routes[BILLING_CLAIMS] = {ProgressClaimCreated.TYPE: Route(ProgressClaimCreated, handlers.claim_created)}
    routes[ACCOUNTS] = {
        PasswordLinkRequested.TYPE: Route(PasswordLinkRequested, handlers.password_link_requested),
    }
    return routes


def workers(resources: ServiceResources):
    # One mailer for both: together they keep to the mail server's connection limit.
    mailer = SmtpMailer(resources.settings)
    return [DeliveryWorker(resources, mailer), PasswordMailWorker(resources, mailer)]


definition = ServiceDefinition(
    name="notifier",
    title="Invite to Bill: notifier",
    subscriptions=subscriptions,
    workers=workers,
)
