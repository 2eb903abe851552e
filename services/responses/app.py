"""Bootstrap: the responses service's pages and what it consumes."""

from services.responses import handlers
from services.responses.pages import router
from shared.erp import erp_routes
from shared.events import (
    BILLING_INVITES,
    BILLING_PERIODS,
    BillingPeriodClosed,
    BillingPeriodDueDateChanged,
    BillingPeriodOpened,
    InviteSent,
)
from shared.messaging import Route
from shared.service import ServiceDefinition


def subscriptions(clock):
    return erp_routes() | {
        BILLING_INVITES: {InviteSent.TYPE: Route(InviteSent, handlers.invite_sent)},
        BILLING_PERIODS: {
            BillingPeriodOpened.TYPE: Route(BillingPeriodOpened, handlers.period_opened),
            BillingPeriodDueDateChanged.TYPE: Route(BillingPeriodDueDateChanged, handlers.due_date_changed),
            BillingPeriodClosed.TYPE: Route(BillingPeriodClosed, handlers.period_closed),
        },
    }


definition = ServiceDefinition(
    name="responses",
    title="Invite to Bill: responses",
    routers=[router],
    subscriptions=subscriptions,
)
