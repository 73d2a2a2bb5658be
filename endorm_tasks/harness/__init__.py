"""The lm-eval plugin: the ``endorm`` model (``lm_model``), the boilerplate every task shares
(``task_base``) and the EndoRM task classes the YAMLs under ``task_configs/`` name (``tasks``)."""
