"""The console scripts (``endorm-eval``, ``endorm-score``, ``endorm-report``, ``endorm-regress``,
``endorm-sweep``, ``endorm-tokens``, ``endorm-fetch-model``) and their shared exit codes (``errors``)."""
