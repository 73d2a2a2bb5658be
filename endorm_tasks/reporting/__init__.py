"""Reading and reporting results, torch-free: the one reader of lm-eval results files (``results``), the
one module of summaries (``summaries``), the leaderboard (``leaderboard``), the CI regression gate
(``regress``) and figures (``plots``)."""
