"""Bootstrap: the periods service's routers and subscriptions."""

from services.periods.api import router
from services.periods.pages import periods as period_pages
from shared.erp import erp_routes
from shared.service import ServiceDefinition

definition = ServiceDefinition(
    name="periods",
    title="Invite to Bill: billing periods",
    routers=[router, period_pages.router],
    subscriptions=lambda clock: erp_routes(),
)
