"""`itb up`'s supervision with real child processes: a part that exits is started again after a backoff, one
that keeps exiting stops the stack with the reason; and where `--replicas` puts each service's processes."""

import io
import sys
from pathlib import Path

import pytest

from deploy.embedded import ChildProcess
from deploy.stack import GaveUp, LocalStack, Part, Restarts, StackSettings


def short_lived(tmp_path: Path, name: str, status: int) -> ChildProcess:
    return ChildProcess(name, [sys.executable, "-c", f"print('{name} here'); exit({status})"], tmp_path / f"{name}.log")


def stack_of(tmp_path: Path, part: Part) -> tuple[LocalStack, io.StringIO]:
    out = io.StringIO()
    stack = LocalStack(StackSettings(state_dir=tmp_path), out=out)
    stack.parts.append(part)
    return stack, out


def test_a_part_that_keeps_exiting_is_started_again_with_backoff_until_the_stack_gives_up_saying_why(tmp_path):
    starts = []

    def start() -> ChildProcess:
        starts.append(short_lived(tmp_path, "notifier", 3))
        return starts[-1]

    quick = Restarts(limit=3, first_backoff_seconds=0.01)
    stack, out = stack_of(tmp_path, Part("notifier", start(), start, quick))

    with pytest.raises(GaveUp, match="the notifier process exited with status 3, and has stopped 3 times within 60 s"):
        stack.supervise()

    assert len(starts) == 3
    said = out.getvalue()
    assert said.count("The notifier process exited with status 3; starting it again in") == 2
    assert said.count("The notifier process started again.") == 2
    # In the part's own log and in the stack's, beside what the part printed itself.
    assert "itb up: The notifier process started again." in (tmp_path / "notifier.log").read_text()
    assert "notifier here" in (tmp_path / "notifier.log").read_text()
    assert "itb up: The notifier process exited with status 3" in (tmp_path / "logs" / "stack.log").read_text()


def test_the_backoff_doubles_with_each_exit_in_the_window_and_starts_over_after_a_quiet_minute():
    restarts = Restarts()
    assert [restarts.backoff_after_exit(now) for now in (0, 1, 2, 3)] == [0.5, 1, 2, 4]
    assert restarts.backoff_after_exit(4) is None  # the fifth exit within a minute
    assert Restarts(exits=restarts.exits).backoff_after_exit(200) == 0.5


def test_each_service_gets_adjacent_ports_for_its_replicas_and_the_usual_ones_are_spread_to_make_room():
    usual = StackSettings()
    assert [usual.service_ports(service)[0] for service in ("periods", "notifier", "responses", "claims")] == [
        8081,
        8082,
        8083,
        8084,
    ]
    assert usual.service_ports("periods", 2) == [8081, 8082]
    assert usual.service_ports("claims", 2) == [8087, 8088]
    assert StackSettings(claims_port=9000).service_ports("claims", 3) == [9000, 9001, 9002]


def test_replicas_whose_ports_would_meet_are_refused_with_what_to_do(tmp_path):
    stack = LocalStack(StackSettings(state_dir=tmp_path, periods_port=9100, notifier_port=9101), replicas=2)
    with pytest.raises(RuntimeError, match=r"would both listen on port 9101.*set ITB_<SERVICE>_PORT further apart"):
        stack._check_service_ports()
