"""`itb init`: create the Kafka topics and migrate every service's database. The compose file runs it once
before the services start, and `itb up` on every start.

Each service's database is migrated with that service's own connection, so that its tables belong to the role the
service connects as: `<SERVICE>_DATABASE_URL` (PERIODS_DATABASE_URL, ...) when set, as production sets them, or
otherwise the database named after the service on the server of DATABASE_URL.
"""

import asyncio
import os

from shared.contracts.topics import SERVICES
from shared.db import migrate, migrations_dirs
from shared.messaging import create_topics
from shared.settings import Settings


def service_database_urls(settings: Settings) -> dict[str, str]:
    return {
        service: os.environ.get(f"{service.upper()}_DATABASE_URL") or settings.service_database_url(service)
        for service in SERVICES
    }


def initialise(database_urls: dict[str, str], bootstrap_servers: str, settings: Settings) -> None:
    asyncio.run(
        create_topics(bootstrap_servers, settings.kafka_topic_partitions, settings.kafka_topic_replication_factor)
    )
    for service, url in database_urls.items():
        migrate(url, migrations_dirs(service))
