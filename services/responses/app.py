"""Bootstrap: the responses service's pages and what it consumes."""

from services.responses import handlers
from services.responses.pages import router
from shared.erp import erp_routes
from shared.events import BILLING_INVITES, InviteSent
from shared.messaging import Route
from shared.period_view import period_routes
from shared.service import ServiceDefinition


def subscriptions(clock):
    return (
        erp_routes() | period_routes() | {BILLING_INVITES: {InviteSent.TYPE: Route(InviteSent, handlers.invite_sent)}}
    )


definition = ServiceDefinition(
    name="responses",
    title="Invite to Bill: responses",
    routers=[router],
    subscriptions=subscriptions,
)
