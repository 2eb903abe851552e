"""Bootstrap: the claims service's routers and subscriptions."""

from shared.erp import erp_routes
from shared.service import ServiceDefinition

definition = ServiceDefinition(
    name="claims",
    title="Invite to Bill: claims",
    subscriptions=lambda clock: erp_routes(),
)
