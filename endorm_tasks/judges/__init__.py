"""LLM-as-a-judge baselines: judge prompts, candidate answers and scoring rules (``scoring``); their
lm-eval task classes live with the other task classes in ``harness.judge_tasks``. docs/definitions.md#judges."""
