"""The project's own payment-schedule time (rule 18c): an administrator may set an earlier number of business
days than the project's Security of Payment Act allows, never a later one."""

from datetime import datetime

import asyncpg

from services.claims.repository import claims as repository
from shared import payment_schedules
from shared.erp import require_permission
from shared.errors import InvalidRequest, NotFound


async def set_schedule_days(pool: asyncpg.Pool, user_id: str, project_id: str, days: int, now: datetime) -> int:
    """Store the project's number of business days for payment schedules; the Act's figure it stays within."""
    async with pool.acquire() as connection, connection.transaction():
        administrator = await require_permission(connection, user_id, project_id, "admin")
        region = await connection.fetchval("SELECT region FROM erp_projects WHERE project_id = $1", project_id)
        if region is None and not await repository.project_known(connection, project_id):
            raise NotFound(f"There is no project {project_id}.")
        act = payment_schedules.act_for(region)
        if act is None:
            raise InvalidRequest(
                f"Project {project_id} is not in a region with a Security of Payment Act, so it has no "
                "payment-schedule clock to shorten; set the project's region in the ERP first."
            )
        if days > act.schedule_days:
            raise InvalidRequest(
                f"The {act.name} allows at most {act.schedule_days} business days under {act.section}; "
                f"choose {act.schedule_days} or fewer."
            )
        await repository.set_project_payment_schedule_days(connection, project_id, days, administrator, now)
        return days
