"""Training a network: the epoch loop, evaluation and fit; a transfer network's phases; CUDA
graphs; the seed, device and precision a trial computes with; classification metrics; the
failures a trial recovers from (out of memory).

Takes a built model and batches, returns a FitResult. Never decides what to train, never
writes the run folder, never prints."""
