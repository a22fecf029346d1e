"""The report page: :class:`~._data.ReportData` in, one self-contained HTML document out.

Pure (no file or network access). Every string that came from a journal (file names, prompts,
server messages, request ids) goes through :func:`esc` before it reaches the page; the page's
own script and style are allowed by hash in a Content-Security-Policy, so even a string that got
through could not run a script or load anything from the network.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import PurePath

from .._version import __version__
from ._data import JobRow, ReportData
from ._svg import fmt_duration, latency_chart, spend_chart

__all__ = ["Picture", "esc", "render_html"]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def esc(value: object) -> str:
    """HTML-escape text (quotes too, so it is safe in attributes) without control characters."""
    return html.escape(_CONTROL.sub("", str(value)), quote=True)


@dataclass(frozen=True, slots=True)
class Picture:
    """An image the page shows: its thumbnail and the full image, as URLs relative to the page."""

    src: str
    width: int
    height: int
    href: str | None = None
    source_width: int | None = None
    source_height: int | None = None


#: Looks up the picture of a path recorded in the journal (``None``: not available).
Pictures = Callable[[str | None], Picture | None]

CSS = """
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1b1f;--muted:#55555f;--card:#f4f4f7;
--line:#d5d5dc;--ok:#1a7f37;--bad:#b42318;--warn:#8a5a00;--accent:#2952c8}
@media (prefers-color-scheme:dark){:root{--bg:#111114;--fg:#ececf1;--muted:#a9a9b5;
--card:#1c1c22;--line:#383842;--ok:#4ac26b;--bad:#ff8b80;--warn:#e3b341;--accent:#8ab0ff}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
background:var(--bg);color:var(--fg)}
main{max-width:78rem;margin:0 auto;padding:1rem}
a{color:var(--accent)}
.skip{position:absolute;left:-999rem}.skip:focus{left:1rem;top:1rem;background:var(--bg);
padding:.5rem;z-index:1}
h1{font-size:1.6rem;margin:.25rem 0}h2{font-size:1.3rem;margin:2rem 0 .5rem}
.sub{color:var(--muted);margin:0;overflow-wrap:anywhere}
.stats{display:grid;grid-template-columns:repeat(auto-fill,minmax(6.8rem,1fr));gap:.5rem;
margin:1rem 0;padding:0}
.stats div{background:var(--card);border-radius:.5rem;padding:.4rem .75rem}
.stats dt{font-size:.75rem;color:var(--muted)}.stats dd{margin:0;font-size:1.15rem;font-weight:650}
.stats .ok dd{color:var(--ok)}.stats .bad dd{color:var(--bad)}.stats .warn dd{color:var(--warn)}
.toc{display:flex;flex-wrap:wrap;gap:.25rem 1rem;padding:0;list-style:none}
.cards{list-style:none;padding:0;margin:0;display:grid;gap:1rem;
grid-template-columns:repeat(auto-fill,minmax(min(100%,19rem),1fr))}
.card{background:var(--card);border:1px solid var(--line);border-radius:.6rem;padding:.75rem;
overflow-wrap:anywhere;min-width:0}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:.4rem}
figure{margin:0}
.pair img,.ph{width:100%;height:auto;aspect-ratio:1;object-fit:contain;background:var(--line);
border-radius:.3rem;display:block}
.ph{display:flex;align-items:center;justify-content:center;font-size:.8rem;color:var(--muted);
text-align:center;padding:.5rem}
.mini{float:right;width:5.5rem;height:auto;margin:0 0 .5rem .5rem;border-radius:.3rem}
figcaption{font-size:.75rem;color:var(--muted)}
.prompt{margin:.5rem 0 .25rem;font-weight:500}
.meta{font-size:.8rem;color:var(--muted);margin:.15rem 0;display:flex;flex-wrap:wrap;gap:.1rem .8rem}
.err{margin:.25rem 0}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.8rem}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:var(--bg);border:1px solid var(--line);
padding:.5rem;border-radius:.3rem;margin:.4rem 0}
.badge{display:inline-block;font-size:.7rem;font-weight:700;letter-spacing:.03em;
padding:0 .45rem;border-radius:1rem;border:1px solid;text-transform:uppercase}
.failed .badge{color:var(--bad)}.unknown .badge,.other .badge{color:var(--warn)}
.note{border-left:4px solid var(--warn);padding:.25rem .75rem;background:var(--card);margin:.5rem 0}
.charged{font-size:.85rem;margin:.4rem 0;color:var(--warn);font-weight:600}
.charts{display:grid;gap:1rem;grid-template-columns:repeat(auto-fit,minmax(min(100%,24rem),1fr))}
.charts figure{background:var(--card);border-radius:.6rem;padding:.75rem}
svg{width:100%;height:auto;display:block}svg text{fill:var(--muted);font-size:13px}
.axis{stroke:var(--muted)}.grid{stroke:var(--line);stroke-dasharray:2 3}
.line{fill:none;stroke:var(--accent);stroke-width:2}.bar{fill:var(--accent)}
.mark{stroke:var(--warn);stroke-dasharray:4 3}svg .marklabel{fill:var(--warn)}
.pager{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin:.75rem 0}
button,input{font:inherit;padding:.35rem .75rem;border-radius:.4rem;border:1px solid var(--line);
background:var(--card);color:var(--fg)}
button:disabled{opacity:.45}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.js .paged:not(.filtering)>.page:not(.current){display:none}
.js .paged>.page+.page{margin-top:0}.paged>.page+.page{margin-top:1rem}
.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}
footer{color:var(--muted);font-size:.8rem;margin:3rem 0 1rem}
"""

# Paging and filtering: without script every card shows (a long page); with it, one page at a
# time, and the filter searches every page. Hidden pages' lazy images are never fetched.
SCRIPT = """
(function(){var d=document;d.documentElement.classList.add('js');
d.addEventListener('DOMContentLoaded',function(){
d.querySelectorAll('[data-pager]').forEach(function(nav){
var box=d.getElementById(nav.getAttribute('data-pager'));
var pages=box.querySelectorAll(':scope>.page'),n=pages.length,cur=0;
var prev=nav.querySelector('.prev'),next=nav.querySelector('.next'),
st=nav.querySelector('.status'),q=nav.querySelector('input');
function show(i){cur=Math.max(0,Math.min(n-1,i));
pages.forEach(function(p,k){p.classList.toggle('current',k===cur)});
prev.disabled=cur===0;next.disabled=cur===n-1;st.textContent='Page '+(cur+1)+' of '+n;}
prev.addEventListener('click',function(){show(cur-1)});
next.addEventListener('click',function(){show(cur+1)});
q.addEventListener('input',function(){var t=q.value.trim().toLowerCase(),hits=0;
box.classList.toggle('filtering',t!=='');
box.querySelectorAll('.card').forEach(function(c){
var on=!t||c.textContent.toLowerCase().indexOf(t)>=0;c.hidden=!on;if(on)hits++;});
if(t){prev.disabled=next.disabled=true;st.textContent=hits+' matching';}else{show(cur);}});
nav.hidden=false;show(0);});});})();
"""


def _csp_hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def _usd(amount: Decimal | None) -> str:
    if amount is None:
        return "–"
    return f"${amount:.2f}" if amount >= Decimal("0.01") or amount == 0 else f"${amount}"


def _name(path: str | None) -> str:
    if not path:
        return ""
    if path.lower().startswith(("http://", "https://")):
        return path
    return PurePath(path).name or path


def _ts(ts: float | None) -> str:
    if ts is None:
        return "–"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _image(picture: Picture | None, alt: str, missing: str, *, cls: str = "") -> str:
    if picture is None:
        return f'<div class="ph {cls}" role="img" aria-label="{esc(missing)}">{esc(missing)}</div>'
    img = (
        f'<img src="{esc(picture.src)}" width="{picture.width}" height="{picture.height}" '
        f'alt="{esc(alt)}" loading="lazy" decoding="async"'
        + (f' class="{cls}"' if cls else "")
        + ">"
    )
    if picture.href:
        return f'<a href="{esc(picture.href)}">{img}</a>'
    return img


def _short(text: str | None, limit: int = 120) -> str:
    if not text:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


_FLAGS = {
    "model": "--model",
    "aspect_ratio": "--aspect-ratio",
    "resolution": "--resolution",
    "output_format": "--format",
}


def edit_command(row: JobRow) -> str | None:
    """The ``inpaint-async edit`` command that re-runs one job alone (shell-quoted)."""
    if not row.input or not row.prompt or not row.output:
        return None
    args = ["inpaint-async", "edit", row.input, row.prompt, "-o", row.output]
    for key, value in row.params.items():
        if key in _FLAGS and value is not None:
            args += [_FLAGS[key], str(value)]
        elif key == "safe_mode" and isinstance(value, bool):
            args.append("--safe-mode" if value else "--no-safe-mode")
        elif key == "enhance_prompt" and value is True:
            args.append("--enhance-prompt")
    return shlex.join(args)


def _stat(label: str, value: str, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<div{attr}><dt>{esc(label)}</dt><dd>{esc(value)}</dd></div>"


def _header(data: ReportData, title: str) -> str:
    counts = data.counts
    run = data.run
    stats = [
        _stat("Jobs", str(len(data.rows))),
        _stat("Succeeded", str(counts["succeeded"]), "ok"),
        _stat("Failed", str(counts["failed"]), "bad" if counts["failed"] else ""),
        _stat(
            "Unknown",
            str(counts["unknown"] + counts["other"]),
            "warn" if counts["unknown"] + counts["other"] else "",
        ),
        _stat(
            "Skipped this run" if run else "Skipped",
            str(run.skipped) if run and run.skipped is not None else "–",
        ),
        _stat("Estimated spend", _usd(data.charged_usd + data.maybe_charged_usd)),
        _stat("Charged (succeeded)", _usd(data.charged_usd)),
        _stat(
            "May have been charged",
            _usd(data.maybe_charged_usd),
            "warn" if data.maybe_charged_usd else "",
        ),
        _stat(
            "Wall time this run" if run and run.elapsed is not None else "First to last record",
            fmt_duration(data.wall_time) if data.wall_time is not None else "–",
        ),
    ]
    if run is not None and run.not_started:
        stats.append(_stat("Not started", str(run.not_started)))
    models = ", ".join(f"{name} ×{n}" for name, n in data.models.most_common(6)) or "–"
    notes = []
    if run is None:
        notes.append(
            "Skipped jobs are counted by the run itself: this report was made from the journal "
            "alone, which records only jobs that were sent."
        )
    if run is not None and run.stopped_reason:
        notes.append(f"The run stopped launching jobs: {run.stopped_reason}")
    if data.bad_lines:
        notes.append(f"{data.bad_lines} journal line(s) were not records and were skipped.")
    return (
        f"<header><h1>{esc(title)}</h1>"
        f'<p class="sub">Journal <code>{esc(data.journal or "–")}</code> · '
        f"{esc(_ts(data.first_ts))} to {esc(_ts(data.last_ts))}</p>"
        f'<dl class="stats">{"".join(stats)}</dl>'
        f'<p class="sub">Models: {esc(models)}. Spend is the catalogue estimate recorded with '
        "each job.</p>" + "".join(f'<p class="note">{esc(n)}</p>' for n in notes) + "</header>"
    )


def _pager(target: str, label: str) -> str:
    return (
        f'<nav class="pager" data-pager="{target}" aria-label="{esc(label)}" hidden>'
        '<button type="button" class="prev">Previous page</button>'
        '<span class="status" aria-live="polite"></span>'
        '<button type="button" class="next">Next page</button>'
        f'<label>Filter <input type="search" placeholder="prompt, file, id" '
        f'aria-controls="{target}"></label></nav>'
    )


def _paged(target: str, cards: Sequence[str], page_size: int) -> str:
    pages = [cards[i : i + page_size] for i in range(0, len(cards), page_size)] or [[]]
    body = "".join(
        f'<ol class="cards page{" current" if n == 0 else ""}">{"".join(page)}</ol>'
        for n, page in enumerate(pages)
    )
    return f'<div class="paged" id="{target}">{body}</div>'


def _gallery_card(row: JobRow, pictures: Pictures) -> str:
    name = _name(row.input) or _name(row.output) or row.job
    before = _image(pictures(row.input), f"Input {name}", "input not available")
    output = pictures(row.output)
    after = _image(output, f"Edited {name}: {_short(row.prompt)}", "output not available")
    meta = [
        f"<span>{esc(row.model or 'server default')}</span>",
        f"<span>{_usd(row.cost_usd)}</span>",
    ]
    if row.latency is not None:
        meta.append(f"<span>{esc(fmt_duration(row.latency))}</span>")
    if output is not None and output.source_width and output.source_height:
        meta.append(f"<span>{output.source_width}×{output.source_height}</span>")
    if row.record.get("blurred"):
        meta.append("<span>blurred by safe mode</span>")
    meta.append(f"<span>request <code>{esc(row.request_id or 'none')}</code></span>")
    return (
        f'<li class="card" id="job-{esc(row.job)}">'
        f'<div class="pair"><figure>{before}<figcaption>Before</figcaption></figure>'
        f"<figure>{after}<figcaption>After</figcaption></figure></div>"
        f'<p class="prompt">{esc(row.prompt or "(prompt not recorded)")}</p>'
        f'<p class="meta">{"".join(meta)}</p>'
        f'<p class="meta"><span>{esc(_name(row.output))}</span></p></li>'
    )


def _attention_card(row: JobRow, pictures: Pictures) -> str:
    group = row.group
    name = _name(row.input) or _name(row.output) or row.job
    badge = {"failed": "failed", "unknown": "unknown outcome"}.get(group, f"state: {row.state}")
    parts = [
        f'<li class="card {group}" id="job-{esc(row.job)}">',
        _image(pictures(row.input), f"Input {name}", "input not available", cls="mini")
        if pictures(row.input) is not None else "",
        f'<p><span class="badge">{esc(badge)}</span> <strong>{esc(name)}</strong></p>',
        f'<p class="prompt">{esc(row.prompt or "(prompt not recorded)")}</p>',
    ]  # fmt: skip
    if group == "failed":
        error = row.error
        head = " ".join(str(x) for x in (error.get("type"), error.get("status")) if x) or "error"
        parts.append(
            f'<p class="err"><strong>{esc(head)}</strong>: {esc(error.get("message") or "")}</p>'
        )
        parts.append(
            '<p class="meta"><span>'
            + ("re-run by <code>--resume</code>" if row.retryable
               else "not re-run by <code>--resume</code>: change the job first")
            + "</span></p>"
        )  # fmt: skip
    else:
        if group == "other":
            parts.append(
                f'<p class="err">This journal state is not known to inpaint-async {esc(__version__)}.'
                "</p>"
            )
        if row.reason:
            parts.append(f'<p class="err">{esc(row.reason)}</p>')
        if row.error:
            parts.append(f'<p class="err">{esc(row.error.get("message") or "")}</p>')
        parts.append(
            '<p class="charged">Sent, no answer: this edit may have been charged'
            + (f" ({_usd(row.cost_usd)} estimated)" if row.cost_usd is not None else "")
            + ".</p>"
        )
    parts.append(
        f'<p class="meta"><span>request id <code>{esc(row.request_id or "none")}</code></span>'
        f"<span>job <code>{esc(row.job)}</code></span>"
        + (f"<span>sent {row.attempts}×</span>" if row.attempts > 1 else "")
        + "</p>"
    )
    command = edit_command(row)
    if command is not None:
        parts.append(
            "<details><summary>Re-run this job alone</summary>"
            f"<pre><code>{esc(command)}</code></pre></details>"
        )
    parts.append("</li>")
    return "".join(parts)


def _batch_commands(data: ReportData, rerun: Sequence[str] | None) -> tuple[str, str, str]:
    journal = data.journal or "JOURNAL"
    if rerun:
        base = [a for a in rerun if a not in ("--resume", "--rerun-unknown")]
        note = ""
    else:
        base = ["inpaint-async", "batch", "SOURCE", "--out", "OUT", "--journal", journal]
        note = (
            "SOURCE and OUT are the folder or manifest and the output folder the batch ran with "
            "(add its --prompt and edit options)."
        )
    resume = shlex.join([*base, "--resume"])
    return resume, shlex.join([*base, "--resume", "--rerun-unknown"]), note


def _attention(
    data: ReportData, pictures: Pictures, rerun: Sequence[str] | None, page_size: int
) -> str:
    rows = [r for r in data.rows if r.group in ("unknown", "other")]
    failed = data.by_group("failed")
    if not rows and not failed:
        return (
            '<section id="attention" aria-labelledby="attention-h">'
            '<h2 id="attention-h">Needs attention</h2><p>No failed or unknown jobs.</p></section>'
        )
    resume, rerun_unknown, note = _batch_commands(data, rerun)
    intro = []
    if rows:
        intro.append(
            f'<div class="note"><p><strong>{len(rows)} job(s) have an unknown outcome</strong>: '
            "they were sent and no answer came back, so they <strong>may have been charged</strong>"
            f" ({_usd(data.maybe_charged_usd)} estimated). Look the request ids up before "
            "running them again: a re-run may be charged a second time. A resume skips them "
            "unless asked; this re-runs them:</p>"
            f"<pre><code>{esc(rerun_unknown)}</code></pre>"
            "<p>From Python: <code>client.batch(jobs, journal=…, rerun_unknown=True)</code>.</p>"
            + (f"<p>{esc(note)}</p>" if note else "")
            + "</div>"
        )
    retryable = sum(1 for r in failed if r.retryable)
    if failed:
        final = len(failed) - retryable
        text = f"<p>{len(failed)} job(s) failed."
        if final:
            text += (
                f" {final} failed for a reason a re-run would meet again (the request was "
                "refused): change the prompt, image or parameters first."
            )
        if retryable:
            text += (
                f" {retryable} failed for a reason that may pass (rate limit, server error, "
                f"connection, payment); this runs them again:</p><pre><code>{esc(resume)}</code></pre>"
            )
        else:
            text += "</p>"
        intro.append(text)
    cards = [_attention_card(r, pictures) for r in rows + failed]
    pager = (
        _pager("attention-pages", "Pages of jobs that need attention")
        if len(cards) > page_size
        else ""
    )
    return (
        '<section id="attention" aria-labelledby="attention-h">'
        f'<h2 id="attention-h">Needs attention ({len(cards)})</h2>'
        + "".join(intro) + pager + _paged("attention-pages", cards, page_size) + "</section>"
    )  # fmt: skip


def _charts(data: ReportData) -> str:
    figures = []
    for chart, caption, empty in (
        (spend_chart(data.spend_series()), "Estimated spend over time (succeeded and unknown "
         "jobs, cumulative).", "No priced outcomes to chart."),
        (latency_chart(data.latencies()), "How long succeeded jobs took from sending to the "
         "answer (retries and waits included).", "No succeeded job with timings."),
    ):  # fmt: skip
        body = chart if chart is not None else f"<p>{esc(empty)}</p>"
        figures.append(f"<figure>{body}<figcaption>{esc(caption)}</figcaption></figure>")
    return (
        '<section id="charts" aria-labelledby="charts-h"><h2 id="charts-h">Spend and latency</h2>'
        f'<div class="charts">{"".join(figures)}</div></section>'
    )


def _gallery(data: ReportData, pictures: Pictures, page_size: int) -> str:
    rows = data.by_group("succeeded")
    if not rows:
        body = "<p>No succeeded jobs yet.</p>"
    else:
        cards = [_gallery_card(r, pictures) for r in rows]
        pager = _pager("gallery-pages", "Gallery pages") if len(cards) > page_size else ""
        body = (
            "<p>Each pair shows the input and the edited image; select one to open it at full "
            "size.</p>" + pager + _paged("gallery-pages", cards, page_size)
        )
    return (
        '<section id="gallery" aria-labelledby="gallery-h">'
        f'<h2 id="gallery-h">Before and after ({len(rows)})</h2>{body}</section>'
    )


def render_html(
    data: ReportData,
    pictures: Pictures | Mapping[str, Picture] | None = None,
    *,
    title: str = "Batch report",
    rerun_command: Sequence[str] | None = None,
    page_size: int = 48,
    generated_at: datetime | None = None,
) -> str:
    """Render the report page.

    Args:
        data: The journal's rows and totals (:func:`read_report_data`).
        pictures: The thumbnail of each input and output path as recorded in the journal
            (a mapping or a lookup function); missing ones show a placeholder.
        title: The page's heading.
        rerun_command: The batch's own command line, to show the exact command that re-runs
            the failed and unknown jobs (``--resume`` / ``--rerun-unknown`` are added).
        page_size: Cards per page of the gallery and of the failures.
        generated_at: The time printed in the footer (default: now).
    """
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    if pictures is None:
        lookup: Pictures = lambda path: None  # noqa: E731
    elif isinstance(pictures, Mapping):
        table = pictures
        lookup = lambda path: table.get(path) if path else None  # noqa: E731
    else:
        lookup = pictures
    when = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    csp = (
        "default-src 'none'; img-src 'self' file: data:; "
        f"style-src '{_csp_hash(CSS)}'; script-src '{_csp_hash(SCRIPT)}'; "
        "base-uri 'none'; form-action 'none'"
    )
    counts = data.counts
    toc = (
        '<nav aria-label="Sections"><ul class="toc">'
        f'<li><a href="#attention">Needs attention ({counts["failed"] + counts["unknown"] + counts["other"]})</a></li>'
        '<li><a href="#charts">Spend and latency</a></li>'
        f'<li><a href="#gallery">Before and after ({counts["succeeded"]})</a></li></ul></nav>'
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{esc(title)}</title><style>{CSS}</style><script>{SCRIPT}</script></head>"
        '<body><a class="skip" href="#gallery">Skip to the gallery</a><main>'
        + _header(data, title) + toc
        + _attention(data, lookup, rerun_command, page_size)
        + _charts(data) + _gallery(data, lookup, page_size)
        + f"<footer>Made by inpaint-async {esc(__version__)} on {esc(when)}. This page loads "
        "nothing from the network.</footer></main></body></html>\n"
    )  # fmt: skip
