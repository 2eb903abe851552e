"""`itb dlq`: the messages each service sent to its dead-letter topic, read one by one, and sent back.

A dead letter is the original message (value, key and headers) with `dlq-*` headers saying which consumer gave
up on it, why, and where it came from (shared/messaging.py). Replaying publishes the original back to its
topic: every consumer of that topic reads it again, and their inboxes make that harmless for those that
handled it. It is named `SERVICE/PARTITION/OFFSET` on its dead-letter topic, which never changes.
"""

import argparse
import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from deploy.operators.events import Shown, read, records
from shared.contracts.topics import SERVICES, dead_letter_topic

_DLQ_HEADER_PREFIX = "dlq-"


@dataclass(frozen=True)
class DeadLetter:
    service: str
    shown: Shown

    @property
    def id(self) -> str:
        return f"{self.service}/{self.shown.record.partition}/{self.shown.record.offset}"

    @property
    def error(self) -> str:
        return self.shown.headers.get("dlq-error", "")

    @property
    def original_topic(self) -> str:
        return self.shown.headers.get("dlq-original-topic", "")

    @property
    def original_headers(self) -> list[tuple[str, bytes]]:
        return [(name, value) for name, value in self.shown.record.headers if not name.startswith(_DLQ_HEADER_PREFIX)]

    def line(self) -> str:
        what = self.shown.event.type if self.shown.event else "(not a readable event)"
        error = self.error if len(self.error) <= 100 else self.error[:99] + "…"
        return f"{self.id}  {self.shown.timestamp:%Y-%m-%d %H:%M:%S}Z  from {self.original_topic}  {what}  {error}"

    def details(self) -> str:
        value = self.shown.record.value or b""
        try:
            body = json.dumps(json.loads(value), indent=2, ensure_ascii=False)
        except ValueError:
            body = value.decode(errors="backslashreplace")
        headers = "\n".join(f"  {name}: {text}" for name, text in self.shown.headers.items())
        return (
            f"Dead letter {self.id}, {self.shown.timestamp:%Y-%m-%d %H:%M:%S}Z\n"
            f"Consumer:  {self.service}\n"
            f"From:      {self.original_topic}, partition {self.shown.headers.get('dlq-original-partition', '?')}, "
            f"offset {self.shown.headers.get('dlq-original-offset', '?')}\n"
            f"Key:       {self.shown.key}\n"
            f"Error:     {self.error}\n"
            f"Headers:\n{headers}\n"
            f"Value:\n{body}"
        )


async def dead_letters(bootstrap: str, services: list[str]) -> list[DeadLetter]:
    topics = [dead_letter_topic(service) for service in services]
    service_of = {dead_letter_topic(service): service for service in services}
    found = [
        DeadLetter(service_of[record.topic], read(record))
        async for record in records(bootstrap, topics, last=None, follow=False)
    ]
    return sorted(found, key=lambda letter: (letter.shown.record.timestamp, letter.id))


def add_dead_letters_command(commands, parents: list[argparse.ArgumentParser]) -> None:
    command = commands.add_parser("dlq", help="read the dead letters and send them back to their topics")
    actions = command.add_subparsers(dest="dlq_command", required=True)
    listing = actions.add_parser("list", parents=parents, help="one line per dead letter: id, time, topic, type, error")
    listing.add_argument("service", nargs="?", choices=SERVICES, help="only this service's (default: every one)")
    show = actions.add_parser("show", parents=parents, help="a dead letter in full: error, headers, value")
    show.add_argument("id", help="SERVICE/PARTITION/OFFSET, as `itb dlq list` shows it")
    replay = actions.add_parser(
        "replay",
        parents=parents,
        help="publish the original message (value, key, headers) back to its topic",
        description=(
            "Publish dead letters' original messages back to the topics they came from. Every consumer of the topic "
            "reads them again; the ones that handled them before ignore them (their inboxes)."
        ),
    )
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", help="SERVICE/PARTITION/OFFSET, as `itb dlq list` shows it")
    which.add_argument("--all", action="store_true", help="every dead letter (of --service, or of every service)")
    replay.add_argument("--service", choices=SERVICES, help="with --all: only this service's dead letters")
    replay.add_argument("--dry-run", action="store_true", help="say what would be sent back, and send nothing")


def run_dead_letters_command(
    arguments: argparse.Namespace, bootstrap: str, write: Callable[[str], None] = print
) -> int:
    command = arguments.dlq_command
    if command == "list":
        services = [arguments.service] if arguments.service else list(SERVICES)
        letters = asyncio.run(dead_letters(bootstrap, services))
        for letter in letters:
            write(letter.line())
        write(f"{len(letters)} dead letter{'' if len(letters) == 1 else 's'}.")
    elif command == "show":
        write(asyncio.run(_one(bootstrap, arguments.id)).details())
    else:
        write(asyncio.run(_replay(bootstrap, arguments)))
    return 0


async def _one(bootstrap: str, letter_id: str) -> DeadLetter:
    service, _, _ = letter_id.partition("/")
    if service not in SERVICES:
        raise RuntimeError(
            f"{letter_id!r} names no dead letter: ids are SERVICE/PARTITION/OFFSET with SERVICE one of "
            f"{', '.join(SERVICES)}, as `itb dlq list` shows them."
        )
    for letter in await dead_letters(bootstrap, [service]):
        if letter.id == letter_id:
            return letter
    raise RuntimeError(f"There is no dead letter {letter_id}; `itb dlq list {service}` lists that service's.")


async def _replay(bootstrap: str, arguments: argparse.Namespace) -> str:
    if arguments.all:
        services = [arguments.service] if arguments.service else list(SERVICES)
        letters = await dead_letters(bootstrap, services)
    else:
        letters = [await _one(bootstrap, arguments.id)]
    unplaceable = [letter.id for letter in letters if not letter.original_topic]
    if unplaceable:
        raise RuntimeError(
            f"The dead letters {', '.join(unplaceable)} do not say which topic they came from (no "
            "dlq-original-topic header), so they cannot be sent back; nothing was sent."
        )
    lines = [f"{letter.id} -> {letter.original_topic}, key {letter.shown.key}" for letter in letters]
    if arguments.dry_run:
        return "\n".join([*lines, f"Would send back {len(letters)} message(s); nothing was sent (--dry-run)."])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for letter in letters:
            record = letter.shown.record
            await producer.send_and_wait(
                letter.original_topic, record.value, key=record.key, headers=letter.original_headers
            )
    finally:
        await producer.stop()
    return "\n".join([*lines, f"Sent back {len(letters)} message(s) to their topics."])
