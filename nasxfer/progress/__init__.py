"""Progress while a search runs: the Reporter hooks the loop calls, and their views: the
live terminal view and plain lines (and search.log), JSON lines, TensorBoard scalars, the
ETA arithmetic.

Only reporters print or write logs; they never change what the search does."""
