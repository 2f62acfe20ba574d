"""Report files from fake run folders: the plots, the page (also in a real browser), the commands."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
from pathlib import Path

import pytest
from fake_run import make_fake_run
from typer.testing import CliRunner

from nasxfer.cli import app
from nasxfer.reporting.files import compare_path, write_report

CHROMIUM = Path("/usr/bin/chromium")
DATA_URI = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture
def fake_run(tmp_path, tiny_dict):
    return make_fake_run(tmp_path / "runs", tiny_dict)


def test_write_report_writes_page_markdown_json_and_decodable_plots(fake_run):
    from PIL import Image

    files = write_report(fake_run)
    assert files.folder == fake_run.path / "report"
    names = {p.name for p in files.plots}
    assert names == {"best_so_far.png", "pareto.png", "importance.png", "slices.png", "dimensions.png", "curves.png", "confusion.png"}
    for plot in files.plots:
        with Image.open(plot) as image:
            image.verify()
    markdown = files.markdown.read_text()
    assert all(f"]({name})" in markdown for name in names)
    assert json.loads(files.json.read_text())["run_id"] == fake_run.run_id

    html = files.html.read_text()
    images = DATA_URI.findall(html)
    assert len(images) == len(names) == html.count("<img ")
    for data in images:
        with Image.open(io.BytesIO(base64.b64decode(data))) as image:
            image.verify()
    # Self-contained: nothing is fetched, and data from the run is escaped, never markup.
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html) and "<link" not in html and "<script" not in html
    assert "cat &lt;b&gt;" in html and "cat <b>" not in html and "&lt;boom&gt;" in html


def test_plots_without_data_are_left_out_and_old_ones_removed(tmp_path, tiny_dict):
    store = make_fake_run(tmp_path / "runs", tiny_dict, trials=2, failed=(1, 2), finetuned=False)
    (store.path / "report").mkdir()
    (store.path / "report" / "confusion.png").write_bytes(b"stale")
    files = write_report(store)
    assert files.plots == () and not (files.folder / "confusion.png").exists()
    assert "<img" not in files.html.read_text() and files.markdown.read_text().startswith("# nasxfer run")


def test_report_command_prints_leaderboard_and_paths(fake_run):
    runs_dir = fake_run.path.parent
    result = CliRunner().invoke(app, ["report", fake_run.run_id, "--runs-dir", str(runs_dir)])
    assert result.exit_code == 0, result.output
    assert "img/s" in result.output and "report/index.html" in result.output.replace("\n", "")
    assert (fake_run.path / "report" / "index.html").is_file()
    as_json = CliRunner().invoke(app, ["report", fake_run.run_id, "--runs-dir", str(runs_dir), "--format", "json", "--top", "2"])
    assert len(json.loads(as_json.output)["leaderboard"]) == 2


def test_compare_command_table_and_plot(tmp_path, tiny_dict, monkeypatch):
    from nasxfer import cli

    monkeypatch.setattr(cli.console, "width", 200)  # the module's console measured its terminal at import
    runs_dir = tmp_path / "runs"
    first = make_fake_run(runs_dir, tiny_dict, trials=4, seed=1)
    tiny_dict["search"]["strategy"]["name"] = "grid"
    second = make_fake_run(runs_dir, tiny_dict, trials=3, failed=(), seed=2)
    runner = CliRunner()
    result = runner.invoke(app, ["compare", first.run_id, "latest", "--runs-dir", str(runs_dir)])
    assert result.exit_code == 0, result.output
    for text in (first.run_id, second.run_id, "random", "grid", "scratch", "3/4 (1 failed)", "3/3", "val_accuracy (max)"):
        assert text in result.output
    plot = compare_path(runs_dir, [first.run_id, second.run_id])
    assert plot.name == f"compare-{first.run_id}_vs_{second.run_id}.png" and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    chosen = tmp_path / "side-by-side.png"
    assert runner.invoke(app, ["compare", first.run_id, second.run_id, "--runs-dir", str(runs_dir), "-o", str(chosen)]).exit_code == 0
    assert chosen.is_file()
    for args, message in (([first.run_id, first.run_id], "two or more different run ids"), ([first.run_id, second.run_id, "-o", "x.jpg"], "not a .png")):
        bad = runner.invoke(app, ["compare", *args, "--runs-dir", str(runs_dir)])
        assert bad.exit_code == 2 and message in bad.output


def test_compare_path_stays_short_for_many_runs(tmp_path):
    ids = [f"experiment-20250101-0000{i:02d}" for i in range(12)]
    path = compare_path(tmp_path, ids)
    assert len(path.name) < 200 and path.name.startswith("compare-experiment-20250101-000000-and-11-more-")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs headless Chromium at /usr/bin/chromium (apt-get install chromium)")
def test_index_html_loads_in_headless_chromium_and_every_image_decodes(fake_run, tmp_path):
    html = write_report(fake_run).html.read_text()
    count = html.count("<img ")
    # A copy that reports, once loaded, how many images the browser decoded; the page itself
    # has no script and its Content-Security-Policy forbids one, so the copy allows inline script.
    probe = (
        "<script>window.addEventListener('load', () => {"
        "const ok = [...document.images].filter(i => i.complete && i.naturalWidth > 0).length;"
        "document.body.setAttribute('data-decoded', ok); });</script>"
    )
    copy = html.replace("img-src data:;", "img-src data:; script-src 'unsafe-inline';").replace("</body>", probe + "</body>")
    page = tmp_path / "probe.html"
    page.write_text(copy)
    dom = _chromium(tmp_path, "--dump-dom", "--virtual-time-budget=5000", page.as_uri())
    assert dom.count("<img ") == count
    assert f'data-decoded="{count}"' in dom, dom[-400:]
    # The real page, unmodified, renders too.
    shot = tmp_path / "page.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,3000", "--hide-scrollbars", (fake_run.path / "report" / "index.html").as_uri())
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1200, 3000)
        assert len(image.convert("L").getcolors(256)) > 10  # not a blank page


def _chromium(tmp_path: Path, *args: str) -> str:
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ]
    done = subprocess.run([str(CHROMIUM), *flags, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_piped_tables_are_plain_lines_with_whole_ids(tmp_path, tiny_dict):
    """Not a terminal: one line per row, no borders, ids never cut or split (at any width)."""
    from nasxfer import cli

    runs_dir = tmp_path / "runs"
    tiny_dict["name"] = "a-rather-long-experiment-name-that-would-not-fit"
    first = make_fake_run(runs_dir, tiny_dict, trials=3, seed=1)
    second = make_fake_run(runs_dir, tiny_dict, trials=2, failed=(), seed=2)
    narrow = CliRunner().invoke(app, ["compare", first.run_id, second.run_id, "--runs-dir", str(runs_dir)],
                                env={"COLUMNS": "40"})
    assert narrow.exit_code == 0, narrow.output
    lines = narrow.output.splitlines()
    first_words = [line.split()[0] for line in lines if line.strip()]
    for run_id in (first.run_id, second.run_id):
        assert first_words.count(run_id) == 1  # its row starts with the whole id
    assert not any(ch in narrow.output for ch in "│┃━─")
    report = CliRunner().invoke(app, ["report", first.run_id, "--runs-dir", str(runs_dir)], env={"COLUMNS": "40"})
    assert not any(ch in report.output for ch in "│┃━─") and "rank" in report.output
    rows = json.loads(CliRunner().invoke(app, ["compare", first.run_id, second.run_id, "--runs-dir", str(runs_dir), "--json"]).output)
    assert [r["run_id"] for r in rows] == [first.run_id, second.run_id]
    assert rows[0]["trials"]["total"] == 3 and rows[1]["best"]["trial"] >= 1
    assert not cli.console.is_terminal
