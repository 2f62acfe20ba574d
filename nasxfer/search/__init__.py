"""The search itself: the space and its candidates, trial records and objectives, what to run
next (planning, warm start), the loop that runs it (sequential and parallel), constraints,
and ranking (Pareto fronts, picking a trial).

Speaks in config values and trial records. Never builds a model or trains one: evaluation
is handed in, and never prints: progress goes to a Reporter."""
