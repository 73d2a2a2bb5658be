"""Reward-configuration sweeps without new forward passes: stored per-token statistics (``token_store``),
benchmark metrics for a grid of settings (``grid``), length bias (``length_bias``) and figures (``plots``).
docs/definitions.md#sweep."""
