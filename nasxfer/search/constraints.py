"""Checking a candidate's measured costs against ``search.constraints`` (torch-free)."""

from __future__ import annotations

_LIMITS = {
    "max_params": ("params", "{:,.0f} parameters"),
    "max_flops": ("flops", "{:,.0f} FLOPs"),
    "max_latency_ms": ("latency_ms", "{:.3g} ms latency"),
    "max_memory_mb": ("memory_mb", "{:,.1f} MiB per training step"),
}


def broken_constraint(costs: dict[str, float], constraints) -> str | None:
    """The first limit ``costs`` break, as a sentence for the journal; None when within all."""
    for name, limit in constraints.active().items():
        metric, text = _LIMITS[name]
        if costs.get(metric) is not None and costs[metric] > limit:
            return f"{text.format(costs[metric])} > search.constraints.{name} ({limit:g})"
    return None
