"""The lm-eval plugin: the ``endorm`` model (``lm_model``), the boilerplate every task shares
(``task_base``) and the task classes the YAMLs under ``task_configs/`` name: EndoRM (``tasks``), the
judge baselines (``judge_tasks``) and the math tasks (``math_tasks``). Nothing below imports it."""
