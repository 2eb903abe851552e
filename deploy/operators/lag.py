"""`itb lag`: per consumer group and partition, the committed offset, the end offset and the lag.

The committed offsets are read through a consumer of each group that joins nothing (it only fetches the
group's offsets), which every broker serves; the embedded broker does not answer the admin API's request for
them. That broker can also report a partition's end below the group's committed offset (seen after 12,000
events): the line says so rather than showing a negative lag.
"""

import argparse
import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from shared.contracts.topics import ALL_TOPICS


@dataclass(frozen=True)
class PartitionLag:
    group: str
    partition: TopicPartition
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(self.end - self.committed, 0)

    def line(self) -> str:
        where = f"{self.partition.topic}[{self.partition.partition}]"
        note = "  (the broker reports an end below the committed offset)" if self.end < self.committed else ""
        return f"{self.group:<40} {where:<24} {self.committed:>10} {self.end:>10} {self.lag:>8}{note}"


async def lags(bootstrap: str, group_prefix: str | None = None) -> list[PartitionLag]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
    except KafkaError as error:
        raise RuntimeError(
            f"Cannot reach Kafka at {bootstrap} ({error}); start the stack with `itb up`, or set "
            "KAFKA_BOOTSTRAP_SERVERS."
        ) from error
    try:
        groups = sorted(group for group, _ in await admin.list_consumer_groups())
    finally:
        await admin.close()
    if group_prefix:
        groups = [group for group in groups if group.startswith(group_prefix)]
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await reader.start()
    try:
        topics = [topic for topic in ALL_TOPICS if topic in await reader.topics()]
        partitions = [
            TopicPartition(topic, number) for topic in topics for number in sorted(reader.partitions_for_topic(topic))
        ]
        ends = await reader.end_offsets(partitions)
    finally:
        await reader.stop()
    found = []
    for group in groups:
        committed = await _committed(bootstrap, group, partitions)
        found += [PartitionLag(group, partition, offset, ends[partition]) for partition, offset in committed.items()]
    return found


async def _committed(bootstrap: str, group: str, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    """The group's committed offsets, for the partitions it has committed on."""
    member = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await member.start()
    try:
        offsets = {partition: await member.committed(partition) for partition in partitions}
    finally:
        await member.stop()
    return {partition: offset for partition, offset in offsets.items() if offset is not None}


def add_lag_command(commands, parents: list[argparse.ArgumentParser]) -> None:
    command = commands.add_parser(
        "lag", parents=parents, help="per consumer group and partition: committed offset, end offset, lag"
    )
    command.add_argument("--group", help="only groups whose name starts with this (e.g. the service's name)")


def run_lag_command(arguments: argparse.Namespace, bootstrap: str, write: Callable[[str], None] = print) -> int:
    found = asyncio.run(lags(bootstrap, arguments.group))
    if not found:
        write("No consumer group has committed an offset yet.")
        return 0
    write(f"{'group':<40} {'topic[partition]':<24} {'committed':>10} {'end':>10} {'lag':>8}")
    for partition_lag in found:
        write(partition_lag.line())
    write(f"Total lag: {sum(partition_lag.lag for partition_lag in found)}")
    return 0
