"""The report as one self-contained HTML page: inline CSS, plots as base64 data URIs.

The page loads nothing from anywhere (a Content-Security-Policy says so to the browser), so
it opens offline, from a mail attachment or a CI artifact. Every value from the run is
escaped: run ids, class names and error messages are data, never markup.
"""

from __future__ import annotations

import base64
from html import escape
from typing import Any, Iterable

from nasxfer.reporting.analysis import short_value
from nasxfer.reporting.plots import Plot
from nasxfer.storage.provenance import device_text
from nasxfer.reporting.report import data_text, duration_text, metric_text, trials_text

# Images only from data: URIs, styles only inline, no scripts, no fetches.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2733; margin: 2rem auto; max-width: 1180px; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2.2rem; border-bottom: 1px solid #dde3ea; padding-bottom: .2rem; }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, monospace; background: #f2f4f7; padding: 0 .25rem; border-radius: 3px; }
dl.summary { display: grid; grid-template-columns: max-content auto; gap: .15rem 1rem; margin: 1rem 0; }
dl.summary dt { color: #5b6b7c; } dl.summary dd { margin: 0; }
table { border-collapse: collapse; margin: .6rem 0; font-size: 13px; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid #e6eaef; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best td { background: #eef6ff; } td.failed { color: #c0392b; }
figure { margin: 1.2rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #e6eaef; }
figcaption { color: #5b6b7c; font-size: 12.5px; margin-top: .3rem; } footer { color: #8895a4; font-size: 12px; margin-top: 3rem; }
"""


def render_html(report: dict[str, Any], plots: Iterable[Plot] = ()) -> str:
    """The whole page for ``report`` (``build_report``'s dict) with ``plots`` embedded."""
    metric = report["objective"]["metric"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>nasxfer · {escape(report['run_id'])}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>nasxfer run <code>{escape(report['run_id'])}</code></h1>",
        _summary(report),
    ]
    if report["best"]:
        parts.append(_best(report))
    if report["final"]:
        parts.append(_final(report["final"]))
    # The table people come for sits above the plots.
    parts.append(f"<h2>Leaderboard ({len(report['leaderboard'])} of {report['trials']['total']} trials)</h2>")
    parts.append(_leaderboard(report))
    for plot in plots:
        data = base64.b64encode(plot.png).decode("ascii")
        parts.append(
            f'<h2 id="{escape(plot.name)}">{escape(plot.title)}</h2><figure>'
            f'<img src="data:image/png;base64,{data}" alt="{escape(plot.title)}">'
            f"<figcaption>{escape(plot.caption)}</figcaption></figure>"
        )
    if report["dimensions"]:
        parts.append(f"<h2>{escape(metric)} by searched choice</h2>")
        parts.append(_dimensions(report))
    version = report["env"].get("nasxfer") or ""
    parts.append(f"<footer>written by nasxfer {escape(str(version))} · report schema {report['schema']}</footer>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# What a best-trial box shows beside its values, when the trial measured it.
BEST_METRICS = (("val_accuracy", "{:.4f}"), ("val_f1", "{:.4f}"), ("params", "{:,.0f}"), ("flops", "{:,.0f}"),
                ("latency_ms", "{:.3g} ms"), ("memory_mb", "{:.1f} MB"), ("images_per_second", "{:,.0f} img/s"))


def _best(report: dict[str, Any]) -> str:
    best = report["best"]
    metric = report["objective"]["metric"]
    measured = [(name, fmt.format(best["metrics"][name])) for name, fmt in BEST_METRICS
                if best["metrics"].get(name) is not None]
    rows = [(f"<code>{escape(k)}</code>", escape(v)) for k, v in measured]
    rows += [(f"<code>{escape(k)}</code>", f"<code>{escape(short_value(v))}</code>") for k, v in best["values"].items()]
    return f"<h2>Best trial: {best['trial']} ({escape(metric)} {_num(best['metric'])})</h2>" + _table(("field", "value"), rows)


def _summary(report: dict[str, Any]) -> str:
    objective = report["objective"]
    trials = report["trials"]
    env = report["env"]
    items = [
        ("name", report["name"]),
        ("status", report["status"]["text"]),
        ("strategy", report["strategy"]),
        ("backbone", report["backbone"]),
        ("objective", f"{objective['metric']} ({objective['mode']})"),
        ("trials", f"{trials_text(trials)}, {trials['total']} in all"),
        ("training", f"{report.get('epochs_trained', '-')} epochs, {duration_text(report['search_seconds'])}"),
        ("stopped", report["stop_reason"] or "-"),
        ("data", data_text(report["data"]) if report.get("data") else "-"),
        ("files skipped", ", ".join(report["skipped_files"]) or "none"),
        ("device", device_text(env)),
        ("torch", env.get("torch") or "-"),
        ("git revision", env.get("git_revision") or "-"),
        ("started", env.get("started") or "-"),
    ]
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in items)
    return f'<dl class="summary">{rows}</dl>'


def _final(final: dict[str, Any]) -> str:
    head = (
        f"<h2>Final model: trial {final['trial']}, {final['epochs']} epochs</h2>"
        f"<p>test accuracy <b>{_num(final.get('test_accuracy'))}</b>, macro-F1 {_num(final.get('test_f1'))}, "
        f"test loss {_num(final.get('test_loss'))}</p>"
    )
    per_class = final.get("per_class_accuracy") or {}
    if not per_class:
        return head
    rows = [(escape(str(name)), _num(accuracy)) for name, accuracy in per_class.items()]
    return head + _table(("class", "test accuracy"), rows, numeric=(1,))


def _leaderboard(report: dict[str, Any]) -> str:
    best_trial = report["best"]["trial"] if report["best"] else None
    head = ("rank", "trial", report["objective"]["metric"], "val_f1", "params", "img/s", "s/epoch", "seconds", "values")
    body = []
    for row in report["leaderboard"]:
        complete = row["state"] != "failed"  # paused and pruned trials have a metric, at fewer epochs
        metric = escape(metric_text(row)) if complete else escape(row["state"])
        values = ", ".join(f"{k.split('.')[-1]}={short_value(v)}" for k, v in row["values"].items())
        if row["error"] or row.get("reason"):
            values += f" — {(row['error'] or row['reason'])[:200]}"
        cells = [
            (str(row["rank"] or ""), "num"),
            (str(row["trial"]), "num"),
            (metric, "num" if complete else "failed"),
            (_num(row["val_f1"]), "num"),
            (_int(row["params"]), "num"),
            (_int(row["images_per_second"]), "num"),
            (_num(row["seconds_per_epoch"], 2), "num"),
            (f"{row['seconds']:.1f}", "num"),
            (escape(values), ""),
        ]
        css = ' class="best"' if row["trial"] == best_trial else ""
        body.append(f"<tr{css}>" + "".join(f'<td class="{c}">{v}</td>' if c else f"<td>{v}</td>" for v, c in cells) + "</tr>")
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _dimensions(report: dict[str, Any]) -> str:
    rows = []
    for dim in report["dimensions"]:
        for value in dim["values"]:
            spread = f" ± {_num(value['std'])}" if value["std"] is not None else ""
            rows.append(
                (
                    f"<code>{escape(dim['dimension'])}</code>",
                    f"<code>{escape(value['label'])}</code>",
                    str(value["count"]),
                    (_num(value["mean"]) + spread) if value["count"] else "-",
                )
            )
    return _table(("dimension", "value", "n", "mean ± std"), rows, numeric=(2, 3))


def _table(head: tuple[str, ...], rows: list[tuple[str, ...]], numeric: tuple[int, ...] = ()) -> str:
    """A table from already-escaped cells."""
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _num(value: Any, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _int(value: Any) -> str:
    return "-" if value is None else f"{int(value):,}"
