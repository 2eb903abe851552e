"""The system the security tests send requests at: the four services with a project of their own."""

import pytest

from tests.security.system import whole_system


@pytest.fixture
async def system(infrastructure, database_for):
    async with whole_system(infrastructure, database_for) as system:
        yield system
