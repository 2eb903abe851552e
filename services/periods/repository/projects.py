"""The projects an administrator runs, from the ERP read model the periods service keeps."""

import asyncpg

from services.periods.domain.periods import Project


async def projects_administered_by(connection: asyncpg.Connection, user_id: str) -> list[Project]:
    """The projects where the user is Admin on the Commitments tool (rule 19), by name."""
    rows = await connection.fetch(
        """
        SELECT j.project_id, j.name, j.timezone
        FROM erp_project_members m JOIN erp_projects j USING (project_id)
        WHERE m.user_id = $1 AND NOT m.removed AND m.commitments_permission = 'admin'
        ORDER BY j.name, j.project_id
        """,
        user_id,
    )
    return [Project(id=row["project_id"], name=row["name"], timezone=row["timezone"]) for row in rows]
