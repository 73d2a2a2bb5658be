"""The torch-free reward settings (issue 18): the two parts, what a result may record, and every place
that takes the settings (lm-eval model args, endorm-score and endorm-sweep flags, the RL config)
derived from the dataclass fields (docs/definitions.md#reward-settings)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from endorm_tasks.cli import score as score_cli
from endorm_tasks.cli import sweep as sweep_cli
from endorm_tasks.reward.config import (
    REWARD_KEYS,
    STATS_KEYS,
    SWEEP_KEYS,
    ConfigError,
    RewardConfig,
    StatsSettings,
    SweepSettings,
)
from endorm_tasks.reward.scorer import EndoScorer, TokenStats

RECORDED = ("gamma", "alpha", "reward_form", "aggregate", "append_eos", "terminal_value")


def test_the_two_parts_hold_the_six_settings_recorded_in_the_historical_order():
    assert STATS_KEYS == ("alpha", "append_eos")
    assert set(SWEEP_KEYS) == {"gamma", "reward_form", "aggregate", "terminal_value"}
    assert REWARD_KEYS == RECORDED
    config = RewardConfig(gamma=0.93, alpha=2.0, reward_form="logprob")
    assert list(config.as_dict()) == list(RECORDED)
    assert config == RewardConfig(StatsSettings(alpha=2.0), SweepSettings(gamma=0.93, reward_form="logprob"))
    assert (config.gamma, config.alpha, config.append_eos) == (0.93, 2.0, True)
    assert dataclasses.replace(config, alpha=1.0).as_dict() == {**config.as_dict(), "alpha": 1.0}


def test_config_does_not_import_torch():
    code = "import endorm_tasks.reward.config, sys; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


@pytest.mark.parametrize("settings, message", [
    ({"gama": 0.9}, "unknown reward setting 'gama'"),
    ({"alpha": True}, "alpha must be a number"),
    ({"aggregate": "mean", "gamma": 0.5}, "needs gamma=1"),
])
def test_bad_settings_are_config_errors(settings, message):
    with pytest.raises(ConfigError, match=message):
        RewardConfig(**settings)


def scorer_with(config: RewardConfig) -> EndoScorer:
    """``EndoScorer.reward`` needs only the scorer's config: no model."""
    scorer = object.__new__(EndoScorer)
    scorer.config = config
    return scorer


def stats(settings: StatsSettings) -> TokenStats:
    return TokenStats([1, 2], torch.tensor([1.0, 2.0]), torch.tensor([0.5, 0.5]), torch.tensor([0.25, 0.25]), settings)


def test_a_reward_records_the_settings_its_statistics_were_computed_with():
    computed = StatsSettings(alpha=2.0, append_eos=False)
    scorer = scorer_with(RewardConfig(gamma=0.9))  # a scorer at alpha 1 reading statistics at alpha 2
    assert scorer.reward(stats(computed)).config == RewardConfig(computed, SweepSettings(gamma=0.9))
    swept = scorer.reward(stats(computed), SweepSettings(reward_form="logprob"))
    assert swept.config.as_dict() == {**RewardConfig(computed).as_dict(), "reward_form": "logprob"}
    assert swept.reward == pytest.approx((1.0 - 0.5) + (2.0 - 0.5))
    assert scorer.reward(stats(computed), RewardConfig(computed, SweepSettings(gamma=0.5))).config.gamma == 0.5
    with pytest.raises(ConfigError, match="computed with alpha=2.0, append_eos=False, not alpha=1.0, append_eos=False"):
        scorer.reward(stats(computed), RewardConfig(alpha=1.0, append_eos=False))


def flags(parser) -> dict[str, object]:
    """Option dest -> default of every flag of ``parser``."""
    return {a.dest: a.default for a in parser._actions if a.option_strings}


def test_cli_flags_come_from_the_fields():
    defaults = RewardConfig().as_dict()
    score_flags = flags(score_cli.build_parser())
    assert {k: score_flags[k] for k in REWARD_KEYS} == defaults
    sweep_score = sweep_cli.build_parser()._subparsers._group_actions[0].choices["score"]
    assert {k: v for k, v in flags(sweep_score).items() if k in REWARD_KEYS} == {k: defaults[k] for k in STATS_KEYS}
    args = score_cli.build_parser().parse_args(["in.jsonl", "--gamma", "0.9", "--no-append_eos", "--reward_form", "logprob"])
    assert SimpleNamespace(**{k: getattr(args, k) for k in REWARD_KEYS}) == SimpleNamespace(
        **RewardConfig(gamma=0.9, append_eos=False, reward_form="logprob").as_dict())


def test_model_args_are_the_fields():
    from endorm_tasks.harness.lm_model import ENDORM_OPTIONS, unknown_key_error

    assert ENDORM_OPTIONS == REWARD_KEYS
    assert "did you mean 'terminal_value'" in str(unknown_key_error("terminal_valu"))


def test_the_rl_config_has_a_key_for_every_setting_training_does_not_decide():
    from endorm_rl.config import SET_PER_COMPLETION, RewardArguments, config_from_dict

    keys = {f.name for f in dataclasses.fields(RewardArguments)}
    assert set(SET_PER_COMPLETION) <= set(REWARD_KEYS)
    assert [k for k in REWARD_KEYS if k not in SET_PER_COMPLETION and k not in keys] == []
    config = config_from_dict({"output_dir": "/tmp/x", "gamma": 0.95, "alpha": 0.5, "reward_form": "logprob"})
    assert config.reward_args.reward_config() == RewardConfig(gamma=0.95, alpha=0.5, reward_form="logprob")
