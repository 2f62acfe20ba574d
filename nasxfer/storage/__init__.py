"""The run folder on disk: store (journal, trial files, leaderboard, run ids), the writer's lock,
atomic and durable file writes, the crash points tests arm, model files, provenance.

Owns every byte nasxfer writes under `runs/`. Never trains, never prints, never decides what
to search: callers hand it records and it keeps them."""
