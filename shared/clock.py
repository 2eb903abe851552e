"""The current time from one place per service, so that tests can stop or move it."""

from datetime import UTC, datetime


class Clock:
    def __init__(self, fixed: datetime | None = None):
        self._fixed = fixed

    def __call__(self) -> datetime:
        return self._fixed or datetime.now(UTC)

    def set(self, moment: datetime | None) -> None:
        """Stop the clock at `moment` (None: follow real time again)."""
        self._fixed = moment
