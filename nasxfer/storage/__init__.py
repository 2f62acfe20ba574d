"""The run folder on disk: store (journal, trial files, leaderboard, run ids), the writer's lock,
atomic and durable file writes, the crash points tests arm, model files, provenance.

Owns the run folder's layout and how every file in it is written (atomically; the journal
appended). Never trains, never prints, never decides what to search: callers hand it
records and it keeps them."""
