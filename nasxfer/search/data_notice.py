"""Telling the user, once per run, what data the search trains on and which files it left out."""

from __future__ import annotations

# Files named in the message when there is no summary to name them; the journal keeps all.
SHOWN_SKIPPED = 10


def report_data(store, reporter, evaluator) -> None:
    """At a run's first start: the data summary to the reporters (stdout, ``search.log``)
    and the journal (``data_summary``), and every skipped image file with its reason in the
    journal (``files_skipped``, which the report reads). A resumed run says nothing again."""
    events = {e.get("event") for e in store.events()}
    if "data_summary" in events or "files_skipped" in events:
        return
    summary = getattr(evaluator, "data_summary", lambda: None)()
    skipped = getattr(evaluator, "skipped_files", lambda: [])()
    if summary is not None:
        store.append("data_summary", **summary.to_dict())
        for line in summary.lines():
            reporter.message(line)
    if skipped:
        store.append("files_skipped", files=[path for path, _ in skipped], reasons=dict(skipped))
        if summary is None:  # the summary names them otherwise
            named = ", ".join(f"{path} ({why})" for path, why in skipped[:SHOWN_SKIPPED])
            more = f" and {len(skipped) - SHOWN_SKIPPED} more" if len(skipped) > SHOWN_SKIPPED else ""
            reporter.message(f"skipped {len(skipped)} unreadable image file{'s' if len(skipped) != 1 else ''}: {named}{more}")
