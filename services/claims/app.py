"""Bootstrap: the claims service's pages, API and what it consumes."""

from services.claims import subscribers
from services.claims.api import router as api_router
from services.claims.pages.accounts import router as account_pages
from services.claims.pages.claims import router as claim_pages
from services.claims.pages.late_claims import router as late_claim_pages
from shared.contracts.erp import CommitmentUpserted
from shared.contracts.invites import InviteSent
from shared.contracts.responses import InviteAccepted, InviteDeclined
from shared.contracts.topics import BILLING_INVITES, BILLING_RESPONSES, ERP_COMMITMENTS
from shared.erp import erp_routes
from shared.messaging import Route
from shared.period_view import period_routes
from shared.service import ServiceDefinition


def subscriptions(clock):
    routes = erp_routes() | period_routes()
    routes[ERP_COMMITMENTS] = {CommitmentUpserted.TYPE: Route(CommitmentUpserted, subscribers.commitment_upserted)}
    routes[BILLING_INVITES] = {InviteSent.TYPE: Route(InviteSent, subscribers.invite_sent)}
    routes[BILLING_RESPONSES] = {
        InviteAccepted.TYPE: Route(InviteAccepted, subscribers.invite_accepted),
        InviteDeclined.TYPE: Route(InviteDeclined, subscribers.invite_declined),
    }
    return routes


definition = ServiceDefinition(
    name="claims",
    title="Invite to Bill: claims",
    routers=[account_pages, late_claim_pages, claim_pages, api_router],
    subscriptions=subscriptions,
)
