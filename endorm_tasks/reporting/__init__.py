"""Reading and reporting results, torch-free: the one reader of lm-eval results files (``results``), what
a benchmark's report section is made of (``tables``), paired differences (``paired``), the CI regression
gate (``regress``) and figures (``plots``). The leaderboard that assembles them is ``endorm_tasks.leaderboard``."""
