"""Math evaluation: answer extraction and gold answers (``answers``), symbolic checking with hard timeouts
(``check``), the math benchmarks' problems and per-problem metrics (``problems``), generated arithmetic
(``arithmetic``) and the lm-eval task glue (``task``). docs/definitions.md#math-metrics."""
