"""Candidate in, metrics out: train the candidate (the training evaluator), look it up in a
benchmark table, and measure what it costs to run (parameters, FLOPs, latency, memory).

Never decides what to search and never writes the run folder: the loop records what an
evaluator returns."""
