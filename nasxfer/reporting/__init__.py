"""What a search found: the report dict every view reads (build_report), the analyses
behind it (best so far, Pareto points, per-dimension effects), its plots, its HTML page and
the report folder's files.

Reads the run folder; never trains and never changes the journal."""
