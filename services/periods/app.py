"""Bootstrap: the periods service's routers, subscriptions and scheduler."""

from services.periods import subscribers
from services.periods.api import router
from services.periods.pages import board as board_pages
from services.periods.pages import periods as period_pages
from services.periods.scheduler import Scheduler
from shared.contracts.claims import (
    ClaimAttemptRejected,
    ClaimWindowExtended,
    LateClaimRequested,
    LateClaimRequestRefused,
    ProgressClaimApproved,
    ProgressClaimCreated,
    ProgressClaimRevisionRequested,
    ProgressClaimSubmitted,
)
from shared.contracts.invites import (
    InviteDeliveryDeferred,
    InviteDeliveryFailed,
    InviteReminderSent,
    InviteSent,
    InviteSkipped,
)
from shared.contracts.responses import InviteAccepted, InviteDeclined
from shared.contracts.topics import BILLING_CLAIMS, BILLING_INVITES, BILLING_RESPONSES
from shared.erp import erp_routes
from shared.messaging import Route
from shared.service import ServiceDefinition, ServiceResources


def subscriptions(clock):
    """The ERP's records, and the period board's events (other types on these topics are not the board's)."""
    row = subscribers.row_event
    return erp_routes() | {
        BILLING_INVITES: {
            InviteSent.TYPE: Route(InviteSent, row),
            InviteDeliveryDeferred.TYPE: Route(InviteDeliveryDeferred, row),
            InviteDeliveryFailed.TYPE: Route(InviteDeliveryFailed, row),
            InviteReminderSent.TYPE: Route(InviteReminderSent, row),
            InviteSkipped.TYPE: Route(InviteSkipped, subscribers.invite_skipped(clock)),
        },
        BILLING_RESPONSES: {
            InviteAccepted.TYPE: Route(InviteAccepted, row),
            InviteDeclined.TYPE: Route(InviteDeclined, subscribers.invite_declined),
        },
        BILLING_CLAIMS: {
            ProgressClaimCreated.TYPE: Route(ProgressClaimCreated, row),
            ProgressClaimSubmitted.TYPE: Route(ProgressClaimSubmitted, row),
            ProgressClaimApproved.TYPE: Route(ProgressClaimApproved, row),
            ProgressClaimRevisionRequested.TYPE: Route(ProgressClaimRevisionRequested, row),
            ClaimAttemptRejected.TYPE: Route(ClaimAttemptRejected, row),
            LateClaimRequested.TYPE: Route(LateClaimRequested, row),
            ClaimWindowExtended.TYPE: Route(ClaimWindowExtended, row),
            LateClaimRequestRefused.TYPE: Route(LateClaimRequestRefused, row),
        },
    }


def workers(resources: ServiceResources):
    """The scheduler, which opens projects' scheduled periods (rule 4a)."""
    return [Scheduler(resources)]


definition = ServiceDefinition(
    name="periods",
    title="Invite to Bill: billing periods",
    routers=[router, period_pages.router, board_pages.router],
    subscriptions=subscriptions,
    workers=workers,
)
