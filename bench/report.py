"""The benchmark's record: each run's figures appended to bench/history.jsonl, and bench/RESULTS.md written from
it, with the chart of the ratios across runs (bench/ratios.png).

Each target is a ratio between a figure of the system and its raw counterpart measured in the same run (or a
plain limit where nothing raw compares): a busy, shared machine slows both sides of a ratio alike.
"""

import json
import math
import os
import platform
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPOSITORY = BENCH.parent
HISTORY = BENCH / "history.jsonl"
RESULTS = BENCH / "RESULTS.md"
CHART = BENCH / "ratios.png"
# What the benchmark itself writes: a run does not make the tree dirty for the next.
OUTPUTS = ("bench/history.jsonl", "bench/RESULTS.md", "bench/ratios.png")

ERP_SERVICES = ("periods", "notifier", "responses", "claims")
FIGURES = (
    "smtp_raw_per_second",
    "fanout_10k_seconds",
    "fanout_10k_per_second",
    "fanout_100k_seconds",
    "fanout_100k_per_second",
    "notifier_peak_rss_mb_10k",
    "notifier_peak_rss_mb_100k",
    "kafka_round_trip_p50_ms",
    "kafka_round_trip_p99_ms",
    "yes_to_claim_p50_ms",
    "yes_to_claim_p99_ms",
    "invite_page_per_second",
    "invite_page_errors",
    "hello_world_per_second",
    "hello_world_errors",
    "erp_events",
    *(f"erp_ingest_per_second_{service}" for service in ERP_SERVICES),
    "startup_seconds",
)
NOT_MEASURED = "not measured"


def _divide(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _times(factor: float, value: float | None) -> float | None:
    return None if value is None else factor * value


def slowest_erp_ingest(figures: dict) -> float | None:
    """The slowest service's ingest rate; unknown while any service's is."""
    rates = [figures.get(f"erp_ingest_per_second_{service}") for service in ERP_SERVICES]
    return None if None in rates else min(rates)


@dataclass(frozen=True)
class Ratio:
    """A figure of the system over its raw counterpart, as the chart draws it."""

    name: str
    value: Callable[[dict], float | None]
    target: float
    at_most: bool  # lower is better: the target is a ceiling


RATIOS = (
    Ratio(
        "fan-out",
        lambda figures: _divide(figures.get("fanout_10k_per_second"), figures.get("smtp_raw_per_second")),
        target=0.45,
        at_most=False,
    ),
    Ratio(
        "Yes → claim",
        lambda figures: _divide(figures.get("yes_to_claim_p99_ms"), figures.get("kafka_round_trip_p99_ms")),
        target=5,
        at_most=True,
    ),
    Ratio(
        "invite page",
        lambda figures: _divide(figures.get("invite_page_per_second"), figures.get("hello_world_per_second")),
        target=0.35,
        at_most=False,
    ),
    Ratio(
        "linearity",
        lambda figures: _divide(figures.get("fanout_100k_seconds"), _times(10, figures.get("fanout_10k_seconds"))),
        target=1.2,
        at_most=True,
    ),
)
FANOUT, YES_TO_CLAIM, INVITE_PAGE, LINEARITY = RATIOS


@dataclass(frozen=True)
class Target:
    """A limit on one measured value (a ratio, or a figure where nothing raw compares)."""

    name: str
    value: Callable[[dict], float | None]
    limit: float
    at_most: bool
    without_errors: str | None = None  # the figure counting errors, which must be there and zero

    def verdict(self, figures: dict) -> str:
        value = self.value(figures)
        errors = figures.get(self.without_errors) if self.without_errors else 0
        if value is None or errors is None:
            return NOT_MEASURED
        within = value <= self.limit if self.at_most else value >= self.limit
        return "met" if within and errors == 0 else "not met"


def _ratio_target(ratio: Ratio, without_errors: str | None = None) -> Target:
    return Target(ratio.name, ratio.value, ratio.target, ratio.at_most, without_errors)


def _figure(name: str) -> Callable[[dict], float | None]:
    return lambda figures: figures.get(name)


TARGETS = {
    "fan-out": _ratio_target(FANOUT),
    "Yes → claim": _ratio_target(YES_TO_CLAIM),
    "invite page": _ratio_target(INVITE_PAGE, without_errors="invite_page_errors"),
    "ERP ingest": Target("ERP ingest", slowest_erp_ingest, 1000, at_most=False),
    "100k RSS": Target("100k RSS", _figure("notifier_peak_rss_mb_100k"), 100, at_most=True),
    "linearity": _ratio_target(LINEARITY),
    "startup": Target("startup", _figure("startup_seconds"), 10, at_most=True),
}


# Recording a run --------------------------------------------------------------------------------------------------


def record_run(figures: dict, label: str, history: Path = HISTORY) -> dict:
    """Append this run's figures to `history`, with the commit, the date and the machine; return the record."""
    commit = current_commit()
    run = {
        "label": label or commit,
        "commit": commit,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "figures": figures,
    }
    history.parent.mkdir(parents=True, exist_ok=True)
    with history.open("a") as lines:
        lines.write(json.dumps(run, ensure_ascii=False) + "\n")
    return run


def current_commit() -> str:
    """The checkout's short hash, with "+dirty" if its files differ from it, new ones included (the benchmark's
    outputs aside)."""

    def git(*arguments: str) -> str:
        return subprocess.run(
            ["git", *arguments], cwd=REPOSITORY, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        changed = git("status", "--porcelain", "--", ".", *(f":!{path}" for path in OUTPUTS))
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}+dirty" if changed else commit


def machine() -> dict:
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "cpu": _cpu_model(),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def read_history(history: Path) -> list[dict]:
    return [json.loads(line) for line in history.read_text().splitlines() if line.strip()]


# RESULTS.md -------------------------------------------------------------------------------------------------------


def write_results(history: Path = HISTORY, results: Path = RESULTS, chart: Path = CHART) -> None:
    """RESULTS.md from the latest run of `history` and the ratios of every run, with the chart next to it and
    the hand-written bench/NOTES.md (next to `results`) under "Notes"."""
    runs = read_history(history) if history.exists() else []
    if not runs:
        raise ValueError(f"{history} holds no benchmark run yet; run `make bench` first.")
    draw_chart(runs, chart)
    notes = results.parent / "NOTES.md"
    results.write_text(
        results_markdown(
            runs,
            chart=Path(os.path.relpath(chart, results.parent)),
            notes=notes.read_text() if notes.exists() else None,
        )
    )


def results_markdown(runs: list[dict], chart: Path, notes: str | None = None) -> str:
    latest = runs[-1]
    figures = latest["figures"]
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (bench/system.py) from bench/history.jsonl; the whole stack from `make up`, its own",
        "SMTP server and an ERP client, with the raw parts measured in the same run on the same machine.",
        "",
        f"## Latest run: {latest['label']} (commit {latest['commit']}, {latest['date']})",
        "",
        f"Machine: {describe_machine(latest['machine'])}.",
        "",
        *side_by_side(figures),
        "",
        "### Every figure",
        "",
        "| figure | value |",
        "|---|---|",
        *(f"| `{name}` | {_value(figures.get(name))} |" for name in _figure_names(figures)),
        "",
        "## Every run",
        "",
        *runs_table(runs),
        "",
        f"![The ratios of every run, each with its target]({chart.as_posix()})",
        "",
    ]
    if notes and notes.strip():
        lines += ["## Notes", "", notes.strip(), ""]
    return "\n".join(lines)


def describe_machine(machine: dict) -> str:
    return (
        f"{machine.get('cores')} cores, {machine.get('memory_gib')} GiB memory, {machine.get('cpu')}, "
        f"{machine.get('os')}, Python {machine.get('python')}"
    )


def side_by_side(figures: dict) -> list[str]:
    """The table of the system's figures next to their raw counterparts, with each ratio and its target."""
    rows = [
        (
            "invites: period opened → last message accepted by the SMTP server",
            _cell("10,000 in {} s = {}/s", figures, "fanout_10k_seconds", "fanout_10k_per_second"),
            _cell("aiosmtplib on 4 connections into the same server: {}/s", figures, "smtp_raw_per_second"),
            _show_ratio(FANOUT, figures),
            "≥ 0.45",
            TARGETS["fan-out"].verdict(figures),
        ),
        (
            "a contact presses Yes → ProgressClaimCreated on `billing.claims`",
            _cell("p50 {} ms, p99 {} ms", figures, "yes_to_claim_p50_ms", "yes_to_claim_p99_ms"),
            _cell(
                "a Kafka produce → consume round trip on the same broker: p50 {} ms, p99 {} ms",
                figures,
                "kafka_round_trip_p50_ms",
                "kafka_round_trip_p99_ms",
            ),
            _show_ratio(YES_TO_CLAIM, figures, "×"),
            "p99 ≤ 5×",
            TARGETS["Yes → claim"].verdict(figures),
        ),
        (
            "invite page `GET /invites/{token}`",
            _cell("{} req/s, {} errors", figures, "invite_page_per_second", "invite_page_errors"),
            _cell("FastAPI hello world: {} req/s, {} errors", figures, "hello_world_per_second", "hello_world_errors"),
            _show_ratio(INVITE_PAGE, figures),
            "≥ 0.35, no errors",
            TARGETS["invite page"].verdict(figures),
        ),
        *(
            (
                f"ERP events ingested by the {service} service",
                _cell("{} events at {}/s", figures, "erp_events", f"erp_ingest_per_second_{service}"),
                "",
                "",
                "≥ 1,000/s",
                Target(service, _figure(f"erp_ingest_per_second_{service}"), 1000, at_most=False).verdict(figures),
            )
            for service in ERP_SERVICES
        ),
        (
            "invites for 100,000 contacts",
            _cell("100,000 in {} s = {}/s", figures, "fanout_100k_seconds", "fanout_100k_per_second"),
            _show("10 × the 10,000's time: {} s", _times(10, figures.get("fanout_10k_seconds"))),
            _show_ratio(LINEARITY, figures),
            "≤ 1.2 (linear)",
            TARGETS["linearity"].verdict(figures),
        ),
        ("notifier peak RSS, 10,000 contacts", _cell("{} MB", figures, "notifier_peak_rss_mb_10k"), "", "", "", ""),
        (
            "notifier peak RSS, 100,000 contacts",
            _cell("{} MB", figures, "notifier_peak_rss_mb_100k"),
            "",
            "",
            "≤ 100 MB",
            TARGETS["100k RSS"].verdict(figures),
        ),
        (
            "`make up` to all four services ready",
            _cell("{} s", figures, "startup_seconds"),
            "",
            "",
            "≤ 10 s",
            TARGETS["startup"].verdict(figures),
        ),
    ]
    header = ["| what | the system | the raw part, same run | ratio | target | verdict |", "|---|---|---|---|---|---|"]
    return header + ["| " + " | ".join(row) + " |" for row in rows]


def runs_table(runs: list[dict]) -> list[str]:
    """The ratios and the plain targets of every run, oldest first."""
    names = [ratio.name for ratio in RATIOS]
    lines = [
        "| run | commit | date | " + " | ".join(names) + " | slowest ERP ingest | 100k RSS | startup |",
        "|---|---|---|" + "---|" * (len(names) + 3),
    ]
    for run in runs:
        figures = run["figures"]
        cells = [
            run["label"],
            run["commit"],
            run["date"],
            *(_show_ratio(ratio, figures, "×" if ratio is YES_TO_CLAIM else "") for ratio in RATIOS),
            _show("{}/s", slowest_erp_ingest(figures)),
            _cell("{} MB", figures, "notifier_peak_rss_mb_100k"),
            _cell("{} s", figures, "startup_seconds"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _figure_names(figures: dict) -> list[str]:
    """The known figures in their order, then any others the run recorded."""
    return [*FIGURES, *sorted(name for name in figures if name not in FIGURES)]


def _cell(template: str, figures: dict, *names: str) -> str:
    return _show(template, *(figures.get(name) for name in names))


def _show(template: str, *values: float | None) -> str:
    if any(value is None for value in values):
        return NOT_MEASURED
    return template.format(*(_number(value) for value in values))


def _show_ratio(ratio: Ratio, figures: dict, unit: str = "") -> str:
    value = ratio.value(figures)
    return NOT_MEASURED if value is None else f"{_number(value)}{unit}"


def _value(value) -> str:
    return NOT_MEASURED if value is None else _number(value)


def _number(value: float) -> str:
    """Three figures or so: 6,960 · 53.2 · 8.7 · 0.16."""
    if isinstance(value, int) or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


# The chart --------------------------------------------------------------------------------------------------------


def draw_chart(runs: list[dict], chart: Path) -> None:
    """One panel per ratio, across the runs oldest first, with its target as a dashed line (PNG)."""
    # Figure without pyplot: no global state, no display, the Agg canvas for PNG.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 7.5), layout="constrained")
    panels = figure.subplots(2, 2, sharex=True).flatten()
    positions = list(range(len(runs)))
    for panel, ratio in zip(panels, RATIOS, strict=True):
        values = [ratio.value(run["figures"]) for run in runs]
        panel.plot(positions, [math.nan if value is None else value for value in values], marker="o")
        panel.axhline(
            ratio.target,
            color="tab:red",
            linestyle="--",
            label=f"target {'≤' if ratio.at_most else '≥'} {ratio.target:g}",
        )
        panel.set_title(f"{ratio.name} ({'lower' if ratio.at_most else 'higher'} is better)")
        panel.set_ylim(0, 1.15 * max([ratio.target, *(value for value in values if value is not None)]))
        panel.legend(loc="best")
        panel.grid(alpha=0.3)
    for panel in panels[2:]:
        panel.set_xticks(positions, [run["label"] for run in runs], rotation=30, ha="right")
    figure.suptitle("Invite to Bill: the system over its raw parts, each run")
    chart.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(chart, dpi=100)
