"""Two shares the README quotes that `endorm-rl compare` does not tabulate, read from the committed logs:
completions cut at the length limit (TRL's ``completions/clipped_ratio``, mean of the first and last 10
steps) and steps whose group had no reward variance, hence no gradient (``frac_reward_zero_std``, all steps).

    python reports/rl/arith_three_arms/log_shares.py
"""

from pathlib import Path
from statistics import fmean

from endorm_rl.run_dir import read_log

HERE = Path(__file__).parent

for arm in ("endogenous", "rule", "hybrid"):
    steps = read_log(HERE / arm)
    clipped = [e["completions/clipped_ratio"] for e in steps]
    no_variance = fmean(e["frac_reward_zero_std"] for e in steps)
    print(f"{arm}: cut at the limit {fmean(clipped[:10]):.0%} -> {fmean(clipped[-10:]):.0%} (first -> last 10 steps); "
          f"steps without reward variance {no_variance:.0%} of {len(steps)}")
