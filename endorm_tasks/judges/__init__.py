"""LLM-as-a-judge baselines: judge prompts, candidate answers and scoring rules (``scoring``) and their
lm-eval task classes (``task``). docs/definitions.md#judges."""
