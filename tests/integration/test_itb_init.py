"""`itb init` as production runs it (docker-compose.yml's init step): each service's database migrated as that
service's own role, which then owns every table of its database and reaches no other."""

import asyncio
import secrets
import uuid

import asyncpg
import pytest

from deploy.cli import main
from shared.contracts.topics import SERVICES


async def test_init_migrates_each_database_as_its_services_own_role(infrastructure, monkeypatch, tmp_path):
    admin = await asyncpg.connect(infrastructure.postgres_url)
    suffix = uuid.uuid4().hex[:8]
    roles = {service: f"itb_{service}_{suffix}" for service in SERVICES}
    passwords = {service: secrets.token_urlsafe(12) for service in SERVICES}
    server = infrastructure.postgres_url.rsplit("/", 1)[0].split("@", 1)[1]
    try:
        for service, role in roles.items():
            password = passwords[service]
            # What deploy/postgres/create-service-databases.sh does on the volume's first start.
            await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
            await admin.execute(f"CREATE DATABASE {role} OWNER {role}")
            await admin.execute(f"REVOKE ALL ON DATABASE {role} FROM PUBLIC")
            monkeypatch.setenv(f"{service.upper()}_DATABASE_URL", f"postgresql://{role}:{password}@{server}/{role}")
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", infrastructure.bootstrap_servers)
        monkeypatch.setenv("DATABASE_URL", "postgresql://nobody:wrong@127.0.0.1:1/unused")  # not used
        monkeypatch.setenv("ITB_STATE_DIR", str(tmp_path))

        assert await asyncio.to_thread(main, ["init"]) == 0

        for service, role in roles.items():
            database = await asyncpg.connect(infrastructure.postgres_url.rsplit("/", 1)[0] + f"/{role}")
            try:
                owners = await database.fetch(
                    "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
                )
            finally:
                await database.close()
            tables = {row["tablename"]: row["tableowner"] for row in owners}
            assert {"outbox", "inbox", "erp_commitments"} <= set(tables), service
            assert set(tables.values()) == {role}, f"every table of {service}'s database is its role's"
        # And a service's role reaches no other service's database.
        host, port = server.split(":")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await asyncpg.connect(
                host=host,
                port=int(port),
                user=roles["periods"],
                password=passwords["periods"],
                database=roles["claims"],
            )
    finally:
        for role in roles.values():
            await admin.execute(f"DROP DATABASE IF EXISTS {role} WITH (FORCE)")
            await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()
