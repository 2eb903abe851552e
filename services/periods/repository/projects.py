"""The projects an administrator runs, from the ERP read model the periods service keeps."""

import asyncpg

from services.periods.domain.periods import Project


async def projects_administered_by(connection: asyncpg.Connection, user_id: str) -> list[Project | str]:
    """The projects where the user is Admin on the Commitments tool (rule 19), by name; a project whose
    commitments have not arrived from the ERP yet (the membership came first) by its id alone."""
    rows = await connection.fetch(
        """
        SELECT m.project_id, j.name, j.timezone
        FROM erp_project_members m LEFT JOIN erp_projects j USING (project_id)
        WHERE m.user_id = $1 AND NOT m.removed AND m.commitments_permission = 'admin'
        ORDER BY j.name NULLS LAST, m.project_id
        """,
        user_id,
    )
    return [
        Project(id=row["project_id"], name=row["name"], timezone=row["timezone"]) if row["name"] else row["project_id"]
        for row in rows
    ]
