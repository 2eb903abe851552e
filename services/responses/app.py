"""Bootstrap: the responses service's pages and what it consumes."""

from services.responses import subscribers
from services.responses.pages import router
from shared.contracts.invites import InviteSent
from shared.contracts.topics import BILLING_INVITES
from shared.erp import erp_routes
from shared.messaging import Route
from shared.period_view import period_routes
from shared.service import ServiceDefinition


def subscriptions(clock):
    return (
        erp_routes()
        | period_routes()
        | {BILLING_INVITES: {InviteSent.TYPE: Route(InviteSent, subscribers.invite_sent)}}
    )


definition = ServiceDefinition(
    name="responses",
    title="Invite to Bill: responses",
    routers=[router],
    subscriptions=subscriptions,
)
