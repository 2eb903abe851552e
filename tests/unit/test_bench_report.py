"""The benchmark's report (bench/report.py): its ratios, its verdicts on the targets, and what it writes."""

import json

import pytest

from bench import report

# The figures of issue 14's first measurement, with the parts it did not measure.
ISSUE_14 = {
    "smtp_raw_per_second": 1205.0,
    "fanout_10k_seconds": 53.2,
    "fanout_10k_per_second": 188.0,
    "kafka_round_trip_p50_ms": 4.1,
    "kafka_round_trip_p99_ms": 8.7,
    "yes_to_claim_p50_ms": 228.0,
    "yes_to_claim_p99_ms": 237.0,
    "invite_page_per_second": 1553.0,
    "invite_page_errors": 0,
    "hello_world_per_second": 6960.0,
    "hello_world_errors": 0,
    "notifier_peak_rss_mb_10k": 79.0,
}

ALL_MET = {
    "smtp_raw_per_second": 1000.0,
    "fanout_10k_seconds": 20.0,
    "fanout_10k_per_second": 500.0,
    "fanout_100k_seconds": 210.0,
    "fanout_100k_per_second": 476.0,
    "notifier_peak_rss_mb_10k": 60.0,
    "notifier_peak_rss_mb_100k": 80.0,
    "kafka_round_trip_p50_ms": 3.0,
    "kafka_round_trip_p99_ms": 8.0,
    "yes_to_claim_p50_ms": 25.0,
    "yes_to_claim_p99_ms": 40.0,
    "invite_page_per_second": 3500.0,
    "invite_page_errors": 0,
    "hello_world_per_second": 7000.0,
    "hello_world_errors": 0,
    "erp_events": 12000,
    "erp_ingest_per_second_periods": 3000.0,
    "erp_ingest_per_second_notifier": 1500.0,
    "erp_ingest_per_second_responses": 2500.0,
    "erp_ingest_per_second_claims": 1000.0,
    "startup_seconds": 7.5,
}


def ratio(name: str, figures: dict) -> float | None:
    [found] = [ratio for ratio in report.RATIOS if ratio.name == name]
    return found.value(figures)


def test_each_ratio_is_the_systems_figure_over_its_raw_counterpart():
    assert ratio("fan-out", ISSUE_14) == pytest.approx(188 / 1205)
    assert ratio("Yes → claim", ISSUE_14) == pytest.approx(237 / 8.7)
    assert ratio("invite page", ISSUE_14) == pytest.approx(1553 / 6960)
    assert ratio("linearity", ALL_MET) == pytest.approx(210 / 200)


def test_a_ratio_missing_either_side_is_not_computed():
    assert ratio("linearity", ISSUE_14) is None  # no 100,000 run (--quick)
    assert ratio("fan-out", {"fanout_10k_per_second": 188.0}) is None
    assert ratio("fan-out", {"fanout_10k_per_second": 188.0, "smtp_raw_per_second": 0}) is None


def test_the_first_measurement_meets_none_of_the_ratio_targets():
    verdicts = {name: target.verdict(ISSUE_14) for name, target in report.TARGETS.items()}
    assert verdicts == {
        "fan-out": "not met",
        "Yes → claim": "not met",
        "invite page": "not met",
        "ERP ingest": "not measured",
        "100k RSS": "not measured",
        "linearity": "not measured",
        "startup": "not measured",
    }


def test_every_target_is_met_at_its_limit():
    assert {target.verdict(ALL_MET) for target in report.TARGETS.values()} == {"met"}


@pytest.mark.parametrize(
    ("change", "target"),
    [
        ({"fanout_10k_per_second": 449.0}, "fan-out"),
        ({"yes_to_claim_p99_ms": 40.1}, "Yes → claim"),
        ({"invite_page_per_second": 2449.0}, "invite page"),
        ({"erp_ingest_per_second_claims": 999.0}, "ERP ingest"),
        ({"notifier_peak_rss_mb_100k": 100.5}, "100k RSS"),
        ({"fanout_100k_seconds": 241.0}, "linearity"),
        ({"startup_seconds": 10.1}, "startup"),
    ],
)
def test_a_figure_past_its_limit_misses_the_target(change, target):
    assert report.TARGETS[target].verdict(ALL_MET | change) == "not met"


def test_the_invite_page_misses_its_target_with_any_error_however_fast():
    assert report.TARGETS["invite page"].verdict(ALL_MET | {"invite_page_errors": 1}) == "not met"


def test_the_invite_pages_verdict_waits_for_its_error_count():
    figures = {name: value for name, value in ALL_MET.items() if name != "invite_page_errors"}
    assert report.TARGETS["invite page"].verdict(figures) == "not measured"


def test_the_erp_ingest_is_the_slowest_service_and_unknown_while_any_is_missing():
    assert report.slowest_erp_ingest(ALL_MET) == 1000.0
    figures = {name: value for name, value in ALL_MET.items() if name != "erp_ingest_per_second_responses"}
    assert report.slowest_erp_ingest(figures) is None
    assert report.TARGETS["ERP ingest"].verdict(figures) == "not measured"


def test_the_results_show_each_figure_beside_its_raw_part_with_ratio_and_verdict():
    markdown = report.results_markdown([run("first", ISSUE_14)], chart=report.Path("ratios.png"))
    lines = markdown.splitlines()
    [fanout] = [line for line in lines if line.startswith("| invites: period opened")]
    assert fanout == (
        "| invites: period opened → last message accepted by the SMTP server | 10,000 in 53.2 s = 188/s "
        "| aiosmtplib on 4 connections into the same server: 1,205/s | 0.16 | ≥ 0.45 | not met |"
    )
    [claim] = [line for line in lines if line.startswith("| a contact presses Yes")]
    assert "| p50 228 ms, p99 237 ms |" in claim
    assert "p50 4.10 ms, p99 8.70 ms | 27.2× | p99 ≤ 5× | not met |" in claim
    [page] = [line for line in lines if line.startswith("| invite page")]
    assert "| 1,553 req/s, 0 errors | FastAPI hello world: 6,960 req/s, 0 errors | 0.22 |" in page


def test_figures_not_measured_say_so_everywhere():
    markdown = report.results_markdown([run("quick", ISSUE_14)], chart=report.Path("ratios.png"))
    lines = markdown.splitlines()
    [hundred_thousand] = [line for line in lines if line.startswith("| invites for 100,000 contacts")]
    assert hundred_thousand == (
        "| invites for 100,000 contacts | not measured | 10 × the 10,000's time: 532 s | not measured "
        "| ≤ 1.2 (linear) | not measured |"
    )
    assert "| `startup_seconds` | not measured |" in lines
    assert "| `erp_ingest_per_second_claims` | not measured |" in lines
    assert "| `smtp_raw_per_second` | 1,205 |" in lines


def test_every_run_is_listed_with_its_ratios_oldest_first():
    markdown = report.results_markdown(
        [run("before", ISSUE_14), run("after", ALL_MET)], chart=report.Path("ratios.png")
    )
    rows = [line for line in markdown.splitlines() if line.startswith(("| before |", "| after |"))]
    assert rows == [
        "| before | abc1234 | 2026-11-30T18:00:00+00:00 | 0.16 | 27.2× | 0.22 | not measured | not measured "
        "| not measured | not measured |",
        "| after | abc1234 | 2026-11-30T18:00:00+00:00 | 0.50 | 5.00× | 0.50 | 1.05 | 1,000/s | 80.0 MB | 7.50 s |",
    ]


def test_record_run_appends_one_line_with_the_commit_date_and_machine(tmp_path):
    history = tmp_path / "history.jsonl"
    report.record_run({"startup_seconds": 8.0}, "first", history)
    recorded = report.record_run(ALL_MET, "second", history)
    lines = history.read_text().splitlines()
    assert [json.loads(line)["label"] for line in lines] == ["first", "second"]
    assert json.loads(lines[1]) == recorded
    assert recorded["figures"] == ALL_MET
    assert set(recorded["machine"]) == {"cores", "memory_gib", "cpu", "os", "python"}
    assert recorded["commit"] and recorded["date"].endswith("+00:00")


def test_write_results_writes_the_markdown_the_chart_and_keeps_the_notes(tmp_path):
    history = tmp_path / "history.jsonl"
    history.write_text(
        "\n".join(json.dumps(run(label, figures)) for label, figures in [("a", ISSUE_14), ("b", ALL_MET)])
    )
    (tmp_path / "NOTES.md").write_text("Where the time went: building each email.\n")
    results, chart = tmp_path / "RESULTS.md", tmp_path / "ratios.png"
    report.write_results(history, results, chart)
    markdown = results.read_text()
    assert "## Latest run: b (commit abc1234, 2026-11-30T18:00:00+00:00)" in markdown
    assert "Machine: 2 cores, 23.5 GiB memory, Test CPU, Linux, Python 3.11.9." in markdown
    assert "![The ratios of every run, each with its target](ratios.png)" in markdown
    assert markdown.endswith("## Notes\n\nWhere the time went: building each email.\n")
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_write_results_asks_for_a_run_first_when_there_is_none(tmp_path):
    with pytest.raises(ValueError, match="no benchmark run yet"):
        report.write_results(tmp_path / "history.jsonl", tmp_path / "RESULTS.md", tmp_path / "ratios.png")


def run(label: str, figures: dict) -> dict:
    return {
        "label": label,
        "commit": "abc1234",
        "date": "2026-11-30T18:00:00+00:00",
        "machine": {"cores": 2, "memory_gib": 23.5, "cpu": "Test CPU", "os": "Linux", "python": "3.11.9"},
        "figures": figures,
    }
