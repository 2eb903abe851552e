"""`itb events tail`: the events on the topics, one readable line each (or JSON lines), as they are or as they come.

It reads without a consumer group (partitions assigned by hand), so it changes no service's offsets and can run
beside the services at any time. Any record is shown, also one that is not a CloudEvent we can read: an ERP's
other client may publish anything, and that is when an operator looks.
"""

import argparse
import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from shared.contracts.topics import ALL_TOPICS
from shared.envelope import CloudEvent, MalformedEvent, from_kafka

# Without --from-beginning, tail starts this many records before each partition's end, as `tail` does.
LAST_PER_PARTITION = 10
_SUMMARY_LENGTH = 110


@dataclass(frozen=True)
class Shown:
    """One record of a topic, read as an event where it is one."""

    record: ConsumerRecord
    event: CloudEvent | None
    problem: str | None  # why it is not an event we can read

    @property
    def key(self) -> str:
        return self.record.key.decode(errors="backslashreplace") if self.record.key is not None else ""

    @property
    def headers(self) -> dict[str, str]:
        return {name: (value or b"").decode(errors="backslashreplace") for name, value in self.record.headers}

    @property
    def timestamp(self) -> datetime:
        return datetime.fromtimestamp(self.record.timestamp / 1000, UTC)

    def line(self) -> str:
        """Time, topic, type, key, subject and a short summary of the data."""
        what = self.event.type if self.event else "(not a readable event)"
        subject = f"  subject={self.event.subject}" if self.event and self.event.subject else ""
        summary = summarise(self.event.data) if self.event else self.problem or ""
        return f"{self.timestamp:%Y-%m-%d %H:%M:%S}Z  {self.record.topic}  {what}  key={self.key}{subject}  {summary}"

    def as_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "topic": self.record.topic,
            "partition": self.record.partition,
            "offset": self.record.offset,
            "timestamp": self.timestamp.isoformat(),
            "key": self.key,
        }
        if self.event is not None:
            shown["event"] = self.event.model_dump(mode="json", exclude_none=True)
        else:
            shown["problem"] = self.problem
            shown["value"] = (self.record.value or b"").decode(errors="backslashreplace")
        return shown


def read(record: ConsumerRecord) -> Shown:
    headers = {name: value for name, value in record.headers}
    try:
        return Shown(record, from_kafka(record.value, headers), None)
    except MalformedEvent as error:
        return Shown(record, None, str(error))
    except UnicodeDecodeError:
        return Shown(record, None, "its headers are not UTF-8 text")


def summarise(data: Any) -> str:
    """The data's first plain fields, `name=value`, cut to one short line."""
    if not isinstance(data, dict):
        text = json.dumps(data, ensure_ascii=False)
    else:
        plain = [f"{name}={value}" for name, value in data.items() if isinstance(value, str | int | float | bool)]
        text = " ".join(plain)
    return text if len(text) <= _SUMMARY_LENGTH else text[: _SUMMARY_LENGTH - 1] + "…"


async def records(
    bootstrap: str, topics: list[str], *, last: int | None, follow: bool, idle_seconds: float = 1.0
) -> AsyncIterator[ConsumerRecord]:
    """The topics' records from the start (`last` None) or the last `last` of each partition, up to the ends
    they had when reading began; with `follow`, then on as records come, until cancelled."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        await consumer.start()
    except KafkaError as error:
        await consumer.stop()
        raise RuntimeError(
            f"Cannot reach Kafka at {bootstrap} ({error}); start the stack with `itb up`, or set "
            "KAFKA_BOOTSTRAP_SERVERS."
        ) from error
    try:
        known = await consumer.topics()
        unknown = [topic for topic in topics if topic not in known]
        if unknown:
            raise RuntimeError(
                f"Kafka at {bootstrap} has no topic {', '.join(unknown)}; `itb init` (or `itb up`) creates the topics."
            )
        partitions = [
            TopicPartition(topic, partition)
            for topic in topics
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        beginnings = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = set()
        for partition in partitions:
            start = beginnings[partition] if last is None else max(beginnings[partition], ends[partition] - last)
            consumer.seek(partition, start)
            if ends[partition] > start:
                remaining.add(partition)
        while follow or remaining:
            batches = await consumer.getmany(timeout_ms=int(idle_seconds * 1000))
            for partition, batch in batches.items():
                for record in batch:
                    yield record
                if batch and batch[-1].offset + 1 >= ends[partition]:
                    remaining.discard(partition)
            if not batches and not follow:
                # The embedded broker can report an end past what it serves; nothing came for a while: done.
                break
    finally:
        await consumer.stop()


def add_events_command(commands, parents: list[argparse.ArgumentParser]) -> None:
    command = commands.add_parser("events", help="read the events on the topics")
    actions = command.add_subparsers(dest="events_command", required=True)
    tail = actions.add_parser(
        "tail",
        parents=parents,
        help="one line per event: time, topic, type, key, subject, a summary",
        description=(
            f"Show the events on the topics: the last {LAST_PER_PARTITION} of each partition, or all of them, then "
            "(with --follow) the new ones as they come. Reads without a consumer group: no service's offsets move."
        ),
    )
    tail.add_argument(
        "--topic", action="append", choices=ALL_TOPICS, metavar="TOPIC", help="this topic (repeat it; default: all)"
    )
    tail.add_argument("--type", help="only events of this type, e.g. billing.period.opened.v1")
    tail.add_argument("--key", help="only records with this key (an aggregate's id)")
    tail.add_argument("--from-beginning", action="store_true", help="every event the topics hold, not only the last")
    tail.add_argument("--follow", "-f", action="store_true", help="go on showing new events until Ctrl-C")
    tail.add_argument("--json", action="store_true", help="one JSON object per line, the whole event")


def run_events_command(arguments: argparse.Namespace, bootstrap: str, write: Callable[[str], None] = print) -> int:
    topics = arguments.topic or list(ALL_TOPICS)
    last = None if arguments.from_beginning else LAST_PER_PARTITION
    asyncio.run(_tail(bootstrap, topics, last, arguments, write))
    return 0


async def _tail(bootstrap: str, topics: list[str], last: int | None, arguments, write: Callable[[str], None]) -> None:
    shown: list[Shown] = []

    def wanted(one: Shown) -> bool:
        if arguments.key is not None and one.key != arguments.key:
            return False
        return arguments.type is None or (one.event is not None and one.event.type == arguments.type)

    def show(one: Shown) -> None:
        write(json.dumps(one.as_json(), ensure_ascii=False) if arguments.json else one.line())

    async for record in records(bootstrap, topics, last=last, follow=arguments.follow):
        one = read(record)
        if not wanted(one):
            continue
        if arguments.follow:
            show(one)
        else:
            shown.append(one)
    # What was there already, in the order it was published across topics and partitions.
    for one in sorted(shown, key=lambda one: (one.record.timestamp, one.record.topic, one.record.offset)):
        show(one)
