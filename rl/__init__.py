"""RL with the endogenous reward (docs/definitions.md#rl): TRL GRPO against a frozen copy of the base model's own reward.

Modules: ``config`` (the YAML run configuration), ``data`` (MATH train prompts), ``rewards`` (TRL reward
functions), ``train``, ``checkpoints`` (run layout, logs, checkpoint JSON), ``evaluate`` (lm-eval over
every checkpoint), ``plots`` and ``cli`` (``endorm-rl train|eval|plot``).
"""
