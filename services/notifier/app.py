"""Bootstrap: the notifier service's routers and subscriptions."""

from shared.erp import erp_routes
from shared.service import ServiceDefinition

definition = ServiceDefinition(
    name="notifier",
    title="Invite to Bill: notifier",
    subscriptions=erp_routes(),
)
