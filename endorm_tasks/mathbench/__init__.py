"""Math evaluation: answer extraction and gold answers (``answers``), symbolic checking with hard timeouts
(``check``), the math benchmarks' problems and per-problem metrics (``problems``) and generated arithmetic
(``arithmetic``); the lm-eval task glue lives in ``harness.math_tasks``. docs/definitions.md#math-metrics."""
