"""The raw parts the system is measured against, on the same machine and in the same run as the system.

- `smtp_rate`: what aiosmtplib alone gets accepted by a mail server, on a few reused connections;
- `kafka_round_trip`: one record produced (acks="all", as the services publish) until a consumer has it;
- `http_rate`: a keep-alive HTTP/1.1 load generator, in child processes so it does not share the caller's core;
- `hello_world`: a FastAPI hello world under uvicorn's defaults, the ceiling for a page of ours.

Each is the least a part of the system could do on this machine; the system's figure divided by it is the
ratio the targets are written in, so a noisy machine moves both sides alike.
"""

import asyncio
import contextlib
import multiprocessing
import queue
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import aiosmtplib
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from deploy.embedded import ChildProcess, wait_until

REPOSITORY = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Latencies:
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True)
class HttpRate:
    requests_per_second: float
    errors: int


def percentiles(samples_ms: list[float]) -> Latencies:
    """p50 and p99 of at least two samples (inclusive quantiles: the p99 of 100 samples lies between the two
    slowest)."""
    cuts = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return Latencies(p50_ms=statistics.median(samples_ms), p99_ms=cuts[98])


# SMTP -----------------------------------------------------------------------------------------------------------

SENDER = "invites@invite-to-bill.example"


def invite_sized_message() -> bytes:
    """A message shaped like an invite email (multipart/alternative: 0.7 KB of text, 3.2 KB of quoted-printable
    HTML, 4.7 KB in all), flattened once: the raw rate is the mail transport's, not the building of emails."""
    message = EmailMessage()
    message["Subject"] = "Harbour Tower: Alex Admin has invited you to bill"
    message["From"] = f"Invite to Bill <{SENDER}>"
    message["To"] = "Jane Citizen <jane@concreteco.example>"
    message["Message-ID"] = "<bench@invite-to-bill>"
    message["Auto-Submitted"] = "auto-generated"
    line = "Alex Admin has invited you to bill Harbour Tower for this billing period."
    message.set_content("\n".join([line] * 10))
    cell = '<tr><td style="padding:10px 0;border-bottom:1px solid #e5e7eb;"><strong>Billing Period</strong></td></tr>'
    message.add_alternative(f"<!DOCTYPE html><html><body><table>{cell * 30}</table></body></html>", subtype="html")
    return message.as_bytes()


async def smtp_rate(host: str, port: int, messages: int = 5000, connections: int = 4) -> float:
    """Messages a second the server at host:port accepts from aiosmtplib on `connections` connections opened
    beforehand and reused, each sending one message at a time. A refused message fails the measurement."""
    body = invite_sized_message()
    clients = [aiosmtplib.SMTP(hostname=host, port=port, timeout=30) for _ in range(connections)]
    await asyncio.gather(*(client.connect() for client in clients))
    numbers = iter(range(messages))

    async def send_on(client: aiosmtplib.SMTP) -> None:
        for number in numbers:  # shared: each connection takes the next message when it is free
            await client.sendmail(SENDER, [f"contact-{number}@vendor.example"], body)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(send_on(client) for client in clients))
        return messages / (time.perf_counter() - started)
    finally:
        for client in clients:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()


# Kafka ----------------------------------------------------------------------------------------------------------

WARM_UP_SAMPLES = 20
SAMPLE_TIMEOUT_SECONDS = 30


async def kafka_round_trip(bootstrap_servers: str, fetch_wait_ms: int, samples: int = 500) -> Latencies:
    """From producing one record (acks="all", as the services' broker) until a consumer of its topic has it,
    one record at a time, on a topic of its own with one partition. The first few are not counted: they
    include the connections' and the fetcher's start."""
    topic = f"bench.round-trip.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", client_id="itb-bench")
    # Assigned rather than in a group: no rebalance to wait for, the same fetches.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, auto_offset_reset="earliest", fetch_max_wait_ms=fetch_wait_ms
    )
    await producer.start()
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        took_ms = []
        for number in range(WARM_UP_SAMPLES + samples):
            value = str(number).encode()
            started = time.perf_counter()
            try:
                async with asyncio.timeout(SAMPLE_TIMEOUT_SECONDS):
                    await producer.send_and_wait(topic, value, key=value)
                    while (await consumer.getone()).value != value:
                        pass
            except TimeoutError:
                raise RuntimeError(
                    f"A record produced to {topic} did not reach its consumer within {SAMPLE_TIMEOUT_SECONDS} s."
                ) from None
            if number >= WARM_UP_SAMPLES:
                took_ms.append((time.perf_counter() - started) * 1000)
        return percentiles(took_ms)
    finally:
        await consumer.stop()
        await producer.stop()


# HTTP -----------------------------------------------------------------------------------------------------------

WARM_UP_SECONDS = 2.0
ANSWER_TIMEOUT_SECONDS = 10.0  # a request unanswered for this long is an error, and its connection is dropped


def http_rate(url: str, seconds: float = 10, connections: int = 32, processes: int = 2) -> HttpRate:
    """Requests a second answered by `GET url`, from `connections` keep-alive connections spread over
    `processes` child processes (like wrk's threads), counted for `seconds` after a warm-up. An error is an
    answer other than 2xx, a connection that failed or an answer not come within ANSWER_TIMEOUT_SECONDS,
    warm-up included.

    Measured on the 2-core machine: a generator process spends 40 to 90 µs of CPU a request, a third to a half
    of what the hello world spends answering it, so one process could ask 2 to 3 times what the hello world can
    serve; one or two (the default, as wrk's `-t2`) saturate it as wrk does, and a third gained nothing, as it
    takes its CPU from the server it measures."""
    spawn = multiprocessing.get_context("spawn")  # not fork: the caller may be running an event loop
    start = spawn.Barrier(processes)
    results = spawn.Queue()
    shares = [connections // processes + (1 if index < connections % processes else 0) for index in range(processes)]
    generators = [
        spawn.Process(target=_generate_load, args=(url, seconds, share, start, results), daemon=True)
        for share in shares
    ]
    for generator in generators:
        generator.start()
    try:
        answered, errors = 0, 0
        for _ in generators:
            try:
                process_answered, process_errors = results.get(timeout=60 + WARM_UP_SECONDS + seconds)
            except queue.Empty:
                raise RuntimeError("A load generator process gave no figures; its error is above.") from None
            answered += process_answered
            errors += process_errors
        return HttpRate(requests_per_second=answered / seconds, errors=errors)
    finally:
        for generator in generators:
            generator.join(timeout=5)
            if generator.is_alive():
                generator.kill()


def _generate_load(url: str, seconds: float, connections: int, start, results) -> None:
    results.put(asyncio.run(_load(url, seconds, connections, start)))


async def _load(url: str, seconds: float, connections: int, start) -> tuple[int, int]:
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "") or "/"
    request = f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUser-Agent: itb-bench\r\n\r\n".encode()
    await asyncio.to_thread(start.wait, 60)  # every process begins together
    counting_from = time.monotonic() + WARM_UP_SECONDS
    until = counting_from + seconds
    answered, errors = 0, 0

    async def keep_asking() -> None:
        nonlocal answered, errors
        stream = None
        while time.monotonic() < until:
            try:
                if stream is None:
                    stream = await asyncio.open_connection(host, port)
                reader, writer = stream
                writer.write(request)
                async with asyncio.timeout(ANSWER_TIMEOUT_SECONDS):
                    status, keep_alive = await _read_response(reader)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                _close(stream)
                stream = None
                await asyncio.sleep(0.01)  # a refused connection is not retried in a tight loop
                continue
            if not 200 <= status < 300:
                errors += 1
            elif counting_from <= time.monotonic() < until:
                answered += 1
            if not keep_alive:
                _close(stream)
                stream = None
        _close(stream)

    await asyncio.gather(*(keep_asking() for _ in range(connections)))
    return answered, errors


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """The status of one response and whether its connection stays open, its body read and dropped."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    if headers.get("transfer-encoding") == "chunked":
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")  # no trailers are sent to us
    else:
        await reader.readexactly(int(headers.get("content-length", 0)))
    return status, headers.get("connection") != "close"


def _close(stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None) -> None:
    if stream is not None:
        stream[1].close()


@contextlib.contextmanager
def hello_world(port: int) -> Iterator[str]:
    """A FastAPI hello world (`bench/hello_world.py`) in a child process on 127.0.0.1:port, ready to answer;
    gives its URL, stopped on exit."""
    url = f"http://127.0.0.1:{port}/"
    log = Path(tempfile.gettempdir()) / f"itb-bench-hello-world-{port}.log"
    server = ChildProcess(
        "hello world", [sys.executable, "-m", "bench.hello_world", "--port", str(port)], log, cwd=REPOSITORY
    )
    try:
        wait_until(lambda: _answers(url), "FastAPI hello world", server, timeout=30)
        yield url
    finally:
        server.stop()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False
