"""The report page from a hand-written journal: counts, rows, links, escaping, tolerance, thumbnails."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from inpaint_async import ConfigurationError
from inpaint_async.batch import BatchSummary
from inpaint_async.report import parse_journal, read_report_data, render_html, write_report
from inpaint_async.report._svg import fmt_duration

from .conftest import Page, write_png

HOSTILE_PROMPT = "<script>alert('prompt')</script> & \"more\""
HOSTILE_MESSAGE = 'bad <img src=x onerror="alert(1)"> [/] [red]markup[/red]'
QUOTED_NAME = 'it\'s a "quoted" <name>.png'


def _line(job: str, state: str, ts: float, **fields: Any) -> str:
    return json.dumps({"v": 1, "ts": ts, "job": job, "state": state, **fields})


@dataclass
class Fixture:
    root: Path
    journal: Path


def make_journal(root: Path) -> Fixture:
    """Two successes, a retryable and a final failure, an unknown, an interrupted job, a state
    from a newer version, one line that is not a record, and hostile strings throughout."""
    inputs, out = root / "in", root / "out"
    lines = []
    for i, (name, prompt) in enumerate([("a.png", "add a hat"), (QUOTED_NAME, HOSTILE_PROMPT)]):
        src, dst = write_png(inputs / name, i), write_png(out / name, i + 10)
        lines += [
            _line(f"ok{i}", "sent", 100.0 + i, input=str(src), output=str(dst), prompt=prompt,
                  params={"model": "m-small"}),
            _line(f"ok{i}", "succeeded", 101.5 + i, output=str(dst), request_id=f"req-ok{i}",
                  cost_usd="0.04", model="m-small", future_field={"x": 1}),
        ]  # fmt: skip
    bad = write_png(inputs / "bad.png", 3)
    lines += [
        _line("fail-final", "sent", 103.0, input=str(bad), output=str(out / "bad.png"),
              prompt="something forbidden"),
        _line("fail-final", "failed", 103.2, output=str(out / "bad.png"), request_id="req-422",
              error={"type": "ContentPolicyError", "status": 422, "message": HOSTILE_MESSAGE,
                     "retryable": False}),
        _line("fail-retry", "sent", 104.0, input=str(bad), output=str(out / "r.png"), prompt="p"),
        _line("fail-retry", "failed", 104.1, output=str(out / "r.png"),
              error={"type": "ServerError", "status": 503, "message": "busy", "retryable": True}),
        _line("unk", "sent", 105.0, input=str(bad), output=str(out / "u.png"),
              prompt="may be paid", params={"resolution": "2K", "safe_mode": False}),
        _line("unk", "unknown", 106.0, output=str(out / "u.png"), request_id="req-unk",
              cost_usd="0.08", reason="OutcomeUnknownError: the gateway timed out"),
        "this line is not json",
        _line("cut", "sent", 107.0, output=str(out / "cut.png"), prompt="interrupted"),
        _line("new", "sent", 108.0, output=str(out / "new.png"), prompt="newer"),
        _line("new", "paid_but_empty", 108.5, output=str(out / "new.png"), cost_usd="0.04",
              reason="the server charged and sent no image"),
    ]  # fmt: skip
    journal = out / "inpaint-journal.jsonl"
    journal.write_text("\n".join(lines) + "\n")
    return Fixture(root, journal)


@pytest.fixture
def fixture(tmp_path: Path) -> Fixture:
    return make_journal(tmp_path)


def test_rows_and_totals_follow_the_last_record_of_each_job(fixture: Fixture) -> None:
    """Groups, spend, models and latency come from each job's latest records; bad lines are
    counted, unknown fields and states kept."""
    data = read_report_data(fixture.journal)
    assert [r.job for r in data.rows] == [
        "ok0", "ok1", "fail-final", "fail-retry", "unk", "cut", "new",
    ]  # fmt: skip
    assert dict(data.counts) == {"succeeded": 2, "failed": 2, "unknown": 2, "other": 1}
    assert data.bad_lines == 1
    assert data.charged_usd == Decimal("0.08")
    assert data.maybe_charged_usd == Decimal("0.12")  # the unknown and the newer state
    assert dict(data.models) == {"m-small": 2}
    assert data.latencies() == [1.5, 1.5]
    assert data.wall_time == pytest.approx(8.5)
    ok0 = data.rows[0]
    assert ok0.record["future_field"] == {"x": 1}
    assert ok0.prompt == "add a hat" and ok0.input and ok0.input.endswith("a.png")
    assert data.rows[5].reason and "interrupted" in data.rows[5].reason
    assert [total for _, total in data.spend_series()] == [
        Decimal("0.04"), Decimal("0.08"), Decimal("0.16"), Decimal("0.20"),
    ]  # fmt: skip


def test_a_new_attempt_clears_the_last_outcome_but_keeps_the_job() -> None:
    """A resumed job that failed and then succeeded shows the success, not the old error."""
    data = parse_journal([
        _line("j", "sent", 1.0, prompt="p", input="in.png", output="o.png"),
        _line("j", "failed", 2.0, error={"type": "ServerError", "retryable": True}),
        _line("j", "sent", 10.0, output="o.png"),
        _line("j", "succeeded", 12.0, request_id="r2"),
    ])  # fmt: skip
    (row,) = data.rows
    assert row.state == "succeeded" and row.error == {} and row.attempts == 2
    assert row.prompt == "p" and row.input == "in.png" and row.latency == 2.0


def test_the_page_has_the_counts_rows_and_links(fixture: Fixture, tmp_path: Path) -> None:
    """Header counts (skipped from the run's summary), one gallery card per success with two
    images linked relatively, the failures and unknowns first, the re-run commands."""
    summary = BatchSummary(succeeded=0, skipped=3, elapsed=12.5)
    page_path = write_report(fixture.journal, tmp_path / "site" / "report.html", summary=summary)
    text = page_path.read_text()
    page = Page(text)
    assert page.stats["Jobs"] == "7"
    assert page.stats["Succeeded"] == "2"
    assert page.stats["Failed"] == "2"
    assert page.stats["Unknown"] == "3"
    assert page.stats["Skipped this run"] == "3"
    assert page.stats["Charged (succeeded)"] == "$0.08"
    assert page.stats["May have been charged"] == "$0.12"
    assert page.stats["Wall time this run"] == "12 s"

    # Failed and unknown come before the gallery, each with its error and request id.
    assert text.index('id="attention"') < text.index('id="gallery"')
    attention = page.with_class("li", "card")
    assert [a["id"] for a in attention[:5]] == [
        "job-unk", "job-cut", "job-new", "job-fail-final", "job-fail-retry",
    ]  # fmt: skip
    assert "req-422" in page.plain and "req-unk" in page.plain
    assert page.plain.count("this edit may have been charged") == 3
    assert "not known to inpaint-async" in page.plain
    assert "inpaint-async batch SOURCE --out OUT --journal" in page.plain
    assert "--resume --rerun-unknown" in page.plain
    assert "--resolution 2K --no-safe-mode" in page.plain  # the unknown job's own command

    # The gallery: two pairs; every image is a thumbnail in report_files/, linked to the
    # full image by a relative path that exists.
    gallery = text[text.index('id="gallery"') :]
    gallery_page = Page(gallery)
    images = gallery_page.all("img")
    assert len(images) == 4
    for img in images:
        assert img["src"].startswith("report_files/") and img["loading"] == "lazy"
        assert (page_path.parent / img["src"]).is_file()
        assert img["alt"].startswith(("Input ", "Edited "))
    links = [a["href"] for a in gallery_page.all("a")]
    assert len(links) == 4
    for href in links:
        assert not href.startswith(("/", "file:", "http"))
        assert (
            page_path.parent / re.sub("%([0-9A-F]{2})", lambda m: chr(int(m[1], 16)), href)
        ).is_file()


def test_hostile_strings_are_escaped(fixture: Fixture, tmp_path: Path) -> None:
    """A <script> prompt, quotes in a file name and markup in a server message stay text."""
    text = write_report(fixture.journal, tmp_path / "r.html").read_text()
    page = Page(text)
    # One script element (the page's own), no element or attribute from the journal's strings.
    assert len(page.all("script")) == 1
    assert not [t for t, _ in page.tags if t not in KNOWN_TAGS]
    assert {name for _, attrs in page.tags for name in attrs} <= KNOWN_ATTRIBUTES
    # The hostile prompt survives only as text (in the card and the image's alt text).
    assert [a for _, attrs in page.tags for a in attrs.values() if "alert" in a] == [
        f"Edited {QUOTED_NAME}: {HOSTILE_PROMPT}"
    ]
    assert HOSTILE_PROMPT in page.plain
    assert HOSTILE_MESSAGE in page.plain
    assert QUOTED_NAME in page.plain
    assert "&lt;script&gt;alert(&#x27;prompt&#x27;)&lt;/script&gt;" in text
    alts = [a["alt"] for a in page.all("img")]
    assert f"Input {QUOTED_NAME}" in alts


def test_the_page_loads_nothing_from_the_network(fixture: Fixture, tmp_path: Path) -> None:
    """No external URL in any src or href, a CSP that forbids connections, and script and
    style allowed only by their hashes."""
    text = write_report(fixture.journal, tmp_path / "r.html").read_text()
    page = Page(text)
    for _, attrs in page.tags:
        for name in ("src", "href"):
            value = attrs.get(name, "")
            assert not value.startswith(("http:", "https:", "//")), value
    (csp,) = [
        a["content"] for a in page.all("meta") if a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert "default-src 'none'" in csp and "'unsafe-inline'" not in csp
    assert "script-src 'sha256-" in csp and "style-src 'sha256-" in csp


def test_the_gallery_is_paged(tmp_path: Path) -> None:
    """100 successes at 48 a page: three pages, the first marked current, a pager."""
    lines = []
    for i in range(100):
        lines += [_line(f"j{i}", "sent", i, output=f"o{i}.png", prompt=f"p{i}"),
                  _line(f"j{i}", "succeeded", i + 0.5, cost_usd="0.01")]  # fmt: skip
    text = render_html(parse_journal(lines), page_size=48)
    page = Page(text)
    pages = page.with_class("ol", "page")
    assert len(pages) == 3
    assert [("current" in p["class"]) for p in pages] == [True, False, False]
    assert len(page.with_class("li", "card")) == 100
    assert [n["aria-label"] for n in page.with_class("nav", "pager")] == ["Gallery pages"]
    assert len(page.with_class("div", "ph")) == 200  # no pictures given: placeholders


def test_charts_describe_their_data(fixture: Fixture) -> None:
    """Both charts are labelled SVG images whose description gives the figures."""
    page = Page(render_html(read_report_data(fixture.journal)))
    svgs = page.all("svg")
    assert [s["role"] for s in svgs] == ["img", "img"]
    assert "$0.20 estimated spend" in page.plain
    assert "2 succeeded jobs: median 1.50 s" in page.plain


def test_an_empty_journal_still_renders(tmp_path: Path) -> None:
    """No records: zeros, no charts, no gallery, no error."""
    journal = tmp_path / "j.jsonl"
    journal.write_text("")
    page = Page(write_report(journal).read_text())
    assert page.stats["Jobs"] == "0" and page.stats["Skipped"] == "–"
    assert "No succeeded jobs yet." in page.plain
    assert "No priced outcomes to chart." in page.plain
    assert "journal alone" in page.plain


def test_thumbnails_are_bounded_cached_and_optional(tmp_path: Path) -> None:
    """A 2000x1000 output becomes a 256x128 thumbnail, reused by the next report; a file that is
    not an image gets a placeholder, not a broken image."""
    big = tmp_path / "out" / "big.png"
    big.parent.mkdir()
    Image.new("RGB", (2000, 1000), (10, 200, 30)).save(big)
    (tmp_path / "in.png").write_bytes(b"not an image")
    journal = tmp_path / "out" / "j.jsonl"
    journal.write_text(
        _line("j", "sent", 1, input=str(tmp_path / "in.png"), output=str(big), prompt="p") + "\n"
        + _line("j", "succeeded", 2) + "\n"
    )  # fmt: skip
    page_path = write_report(journal, thumb_size=256)
    thumbs = list((page_path.parent / "report_files").iterdir())
    assert len(thumbs) == 1
    with Image.open(thumbs[0]) as thumb:
        assert thumb.size == (256, 128)
    page = Page(page_path.read_text())
    assert "2000×1000" in page.plain
    assert [i["width"] for i in page.all("img")] == ["256"]
    assert "input not available" in page.plain
    stamp = thumbs[0].stat().st_mtime_ns
    write_report(journal)
    assert thumbs[0].stat().st_mtime_ns == stamp


def test_relative_journal_paths_are_found_from_the_journal_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch run from its project folder records out/x.png; a report made elsewhere finds it."""
    write_png(tmp_path / "proj" / "out" / "x.png", 1)
    journal = tmp_path / "proj" / "out" / "inpaint-journal.jsonl"
    journal.write_text(
        _line("j", "sent", 1, output="out/x.png", prompt="p") + "\n" + _line("j", "succeeded", 2)
    )
    monkeypatch.chdir(tmp_path)
    page = Page(write_report(journal).read_text())
    assert [a["href"] for a in page.all("a") if a["href"].endswith(".png")] == ["x.png"]


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    """No journal, or sizes out of range: a ConfigurationError before anything is written."""
    with pytest.raises(ConfigurationError, match="no journal"):
        write_report(tmp_path / "missing.jsonl")
    journal = tmp_path / "j.jsonl"
    journal.write_text("")
    with pytest.raises(ConfigurationError, match="thumb_size"):
        write_report(journal, thumb_size=10_000)
    with pytest.raises(ConfigurationError, match="page_size"):
        write_report(journal, page_size=0)
    with pytest.raises(ConfigurationError, match="journal="):
        BatchSummary().write_report()
    assert not (tmp_path / "report.html").exists()


KNOWN_TAGS = {
    "html", "head", "meta", "title", "style", "script", "body", "a", "main", "header", "h1",
    "h2", "p", "code", "dl", "div", "dt", "dd", "nav", "ul", "li", "section", "strong", "pre",
    "ol", "figure", "img", "figcaption", "span", "details", "summary", "svg", "line", "text",
    "path", "rect", "desc", "footer", "button", "label", "input",
}  # fmt: skip
KNOWN_ATTRIBUTES = {
    "lang", "charset", "name", "content", "http-equiv", "class", "href", "id", "aria-label",
    "aria-labelledby", "role", "src", "width", "height", "alt", "loading", "decoding",
    "viewbox", "xmlns", "focusable", "x1", "x2", "y1", "y2", "x", "y", "text-anchor", "d",
    "data-pager", "hidden", "type", "placeholder", "aria-controls", "aria-live",
}  # fmt: skip


def test_stale_thumbnails_are_pruned_and_other_files_kept(tmp_path: Path) -> None:
    """A re-written report deletes the thumbnails it no longer shows, and nothing else."""
    out = tmp_path / "out"
    a, b = write_png(out / "a.png", 1), write_png(out / "b.png", 2)
    journal = out / "j.jsonl"

    def journal_of(*paths: Path) -> None:
        journal.write_text("".join(
            _line(p.stem, "sent", 1, output=str(p), prompt="p") + "\n"
            + _line(p.stem, "succeeded", 2) + "\n" for p in paths
        ))  # fmt: skip

    journal_of(a, b)
    page = write_report(journal)
    files = page.parent / "report_files"
    (files / "notes.txt").write_text("mine")
    assert len(list(files.glob("*.webp"))) == 2
    journal_of(a)
    write_report(journal)
    assert len(list(files.glob("*.webp"))) == 1
    assert (files / "notes.txt").read_text() == "mine"


def test_a_fifo_or_a_url_is_never_read(tmp_path: Path) -> None:
    """A FIFO where an output should be and a URL input get placeholders: the report neither
    blocks on the pipe nor fetches the URL."""
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    journal = tmp_path / "j.jsonl"
    journal.write_text(
        _line("j", "sent", 1, input="https://example.invalid/cat.png", output=str(fifo),
              prompt="p", params={"safe_mode": True, "enhance_prompt": True}) + "\n"
        + _line("j", "unknown", 2) + "\n"
    )  # fmt: skip
    page = Page(write_report(journal).read_text())
    assert page.all("img") == []
    assert "https://example.invalid/cat.png" in page.plain  # shown as text, not loaded
    assert (
        f"inpaint-async edit https://example.invalid/cat.png p -o {fifo} --safe-mode "
        "--enhance-prompt"
    ) in page.plain


def test_odd_values_in_records_do_not_break_the_page() -> None:
    """Numbers as job ids, non-numeric times and prices, an error given as a string."""
    data = parse_journal([
        json.dumps({"job": 7, "state": "sent", "ts": "soon", "prompt": ["a", "b"]}),
        json.dumps({"job": 7, "state": "failed", "ts": None,
                    "error": "plain text error", "cost_usd": "abc"}),
        json.dumps({"job": "x", "state": "succeeded", "ts": True, "cost_usd": "-1"}),
        json.dumps(["not", "a", "record"]),
        json.dumps({"job": None, "state": "sent"}),
    ])  # fmt: skip
    assert data.bad_lines == 2
    failed, ok = data.rows
    assert failed.job == "7" and failed.error == {"message": "plain text error"}
    assert failed.prompt == '["a", "b"]' and failed.cost_usd is None
    assert ok.cost_usd is None and ok.ended_at is None
    page = Page(render_html(data))
    assert "plain text error" in page.plain
    assert data.wall_time is None


def test_durations_read_naturally() -> None:
    """Seconds, minutes and hours in the charts and the header."""
    assert [fmt_duration(s) for s in (0.5, 42, 185, 7440)] == [
        "0.50 s", "42 s", "3 min 5 s", "2 h 4 min",
    ]  # fmt: skip


def test_an_unwritable_target_is_a_typed_error(tmp_path: Path) -> None:
    """A report under a path that cannot be a folder: ConfigurationError, naming the path."""
    journal = tmp_path / "j.jsonl"
    journal.write_text("")
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(ConfigurationError, match="cannot write the report"):
        write_report(journal, blocker / "report.html")
