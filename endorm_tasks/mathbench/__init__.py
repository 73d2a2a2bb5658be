"""Math evaluation: answer extraction and gold answers (``answers``), symbolic checking with hard timeouts
(``check``), the math benchmarks' data and per-problem metrics (``benchmarks``), generated arithmetic
(``arithmetic``) and the lm-eval task glue (``task``). docs/definitions.md#math-metrics."""
