"""endorm: the endogenous reward inside a language model's logits, as lm-eval tasks, judges, math evaluation
and reports (docs/architecture.md). Subpackages: ``reward``, ``prompts``, ``benchmarks``, ``harness``,
``judges``, ``mathbench``, ``sweep``, ``reporting``, ``cli``; ``data_sources`` reads data files,
``file_names`` turns names read from them into file names and ``bundled`` fetches the bundled model."""
