"""Bootstrap: the responses service's routers and subscriptions."""

from shared.erp import erp_routes
from shared.service import ServiceDefinition

definition = ServiceDefinition(
    name="responses",
    title="Invite to Bill: responses",
    subscriptions=lambda clock: erp_routes(),
)
