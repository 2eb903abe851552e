"""What the administrator's pages read about projects: the ones they run, and one project with its periods."""

from dataclasses import dataclass

import asyncpg

from services.periods.domain.periods import BillingPeriod, Project
from services.periods.repository import periods as periods_repository
from services.periods.repository import projects as repository
from shared.erp import require_permission
from shared.errors import NotAllowed, NotFound


@dataclass(frozen=True)
class ProjectToCome:
    """A project the user administers whose commitments (and so name and time zone) the ERP has not sent yet."""

    id: str


@dataclass(frozen=True)
class AdministeredProject:
    project: Project
    periods: list[BillingPeriod]  # newest first

    @property
    def open_period(self) -> BillingPeriod | None:
        return next((period for period in self.periods if period.status == "open"), None)


async def projects_administered(pool: asyncpg.Pool, *, user_id: str) -> list[AdministeredProject | ProjectToCome]:
    """The projects where the user is Admin on Commitments; NotAllowed, saying whom to ask, when there are none."""
    async with pool.acquire() as connection:
        projects = await repository.projects_administered_by(connection, user_id)
        if not projects:
            raise NotAllowed(
                "You are not an administrator of any project: these pages are for people with Admin permission on "
                "a project's Commitments tool. Ask your company's ERP administrator to grant it; if you were "
                "invited to bill, open the link in your invite email instead."
            )
        return [
            AdministeredProject(project, await periods_repository.periods_of_project(connection, project.id))
            if isinstance(project, Project)
            else ProjectToCome(project)
            for project in projects
        ]


async def project_administered(pool: asyncpg.Pool, *, user_id: str, project_id: str) -> AdministeredProject:
    """One project and its periods, for its administrator (rule 19)."""
    async with pool.acquire() as connection:
        project = await periods_repository.get_project(connection, project_id)
        if project is None:
            raise NotFound(
                f"There is no project {project_id[:100]}; projects arrive from the ERP with their commitments, so "
                "check the link or wait for the ERP to send the project."
            )
        await require_permission(connection, user_id, project_id, "admin")
        return AdministeredProject(project, await periods_repository.periods_of_project(connection, project_id))
