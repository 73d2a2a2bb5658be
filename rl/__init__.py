"""RL with the endogenous reward (docs/definitions.md#rl): TRL GRPO against a frozen copy of the base model's own reward.

Modules: ``config`` (a run's arguments: script, reward and TRL's ``GRPOConfig``, parsed by ``TrlParser``),
``data`` (training prompts), ``rewards`` (TRL reward functions), ``train``, ``checkpoints`` (checks of TRL's
checkpoint files, the logging callbacks), ``run_dir`` (a run directory's files), ``evaluate`` (lm-eval over
every checkpoint), ``compare``, ``best_of_n``, ``plots`` and ``cli`` (``endorm-rl``).
"""
