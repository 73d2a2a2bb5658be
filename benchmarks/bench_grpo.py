"""Time one GRPO step of ``endorm-rl`` against its parts measured standalone, side by side in one run.

The step is TRL's ``GRPOTrainer`` step as ``endorm-rl train`` builds it (endogenous reward, bundled
SmolLM2-135M-Instruct, arithmetic prompts). Its parts, each timed on its own in the same process on
the same kind of batch (one prompt, ``G`` completions of exactly ``L`` new tokens: ``min_new_tokens``
keeps every variant's work equal):

  (gen)  plain batched ``model.generate`` of the G completions (sampling, KV cache);
  (rew)  the endogenous reward of those completions (``EndogenousReward``, one forward over the prompt);
  (ref)  the frozen reference model's forward over prompt + completions (per-token log-probabilities);
  (fb)   the policy's forward and backward over prompt + completions, and the optimizer step.

Printed: seconds per step of each, and the ratio step / (gen + rew + ref + fb). Steps are timed after
``--warmup`` untimed ones; the median over ``--steps`` is reported.

    python benchmarks/bench_grpo.py                         # G 8, L 64, 2 threads
    python benchmarks/bench_grpo.py --threads 1 --group 4 --new-tokens 128
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from transformers import TrainerCallback


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--group", type=int, default=8, help="completions per prompt (num_generations)")
    p.add_argument("--new-tokens", type=int, default=64, help="tokens per completion")
    p.add_argument("--steps", type=int, default=5, help="timed steps per variant")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--activation-checkpointing", action="store_true", help="TRL's default; off in our CPU configs")
    return p.parse_args()


def timed(fn, repeats: int, warmup: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def config(out_dir: str, args: argparse.Namespace):
    from endorm_rl.config import EndoRLConfig

    return EndoRLConfig(
        output_dir=out_dir, model="bundled", data="arithmetic", max_prompts=64, seed=0,
        num_generations=args.group, per_device_train_batch_size=args.group,
        max_completion_length=args.new_tokens, max_steps=args.warmup + args.steps, save_steps=10_000,
        learning_rate=1e-6, torch_threads=args.threads, activation_checkpointing=args.activation_checkpointing,
        generation_kwargs={"min_new_tokens": args.new_tokens}, logging_steps=1, disable_tqdm=True,
    )


class StepTimer(TrainerCallback):
    """Records the wall time of every optimizer step."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._start = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.times.append(time.perf_counter() - self._start)


def grpo_step_seconds(args: argparse.Namespace) -> float:
    """Median step time of ``endorm_rl.train.train`` (the trainer it builds, with a step timer added)."""
    from endorm_rl import train as train_module

    timer = StepTimer()
    original = train_module.GRPOTrainer

    class TimedTrainer(original):
        def __init__(self, *a, callbacks=None, **k):
            super().__init__(*a, callbacks=[*(callbacks or []), timer], **k)

    train_module.GRPOTrainer = TimedTrainer
    try:
        with tempfile.TemporaryDirectory() as out:
            train_module.train(config(out, args))
    finally:
        train_module.GRPOTrainer = original
    return statistics.median(timer.times[args.warmup:])


def part_seconds(args: argparse.Namespace) -> dict[str, float]:
    from endorm_rl.data import training_prompts
    from endorm_rl.rewards import EndogenousReward
    from endorm_tasks.bundled import load_model_and_tokenizer

    policy, tokenizer = load_model_and_tokenizer("bundled")
    reference, _ = load_model_and_tokenizer("bundled")
    reward = EndogenousReward(load_model_and_tokenizer("bundled")[0], tokenizer)
    with tempfile.TemporaryDirectory() as out:
        prompt = training_prompts(config(out, args), tokenizer).rows[0]["prompt"]
    prompt_ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    batch = {k: v.repeat(args.group, 1) for k, v in prompt_ids.items()}
    generate = dict(do_sample=True, temperature=1.0, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens,
                    pad_token_id=tokenizer.pad_token_id)
    sequences = policy.generate(**batch, **generate)
    completion_ids = sequences[:, prompt_ids["input_ids"].shape[1]:]
    texts = tokenizer.batch_decode(completion_ids, skip_special_tokens=True)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-6)

    def token_logps(model, ids):
        logits = model(ids).logits[:, prompt_ids["input_ids"].shape[1] - 1 : -1]
        return torch.gather(logits.log_softmax(-1), 2, completion_ids.unsqueeze(-1)).squeeze(-1)

    def forward_backward():
        loss = -token_logps(policy, sequences).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    @torch.no_grad()
    def reference_forward():
        token_logps(reference, sequences)

    n = dict(repeats=args.steps, warmup=args.warmup)
    with torch.no_grad():
        gen = timed(lambda: policy.generate(**batch, **generate), **n)
    return {
        "gen": gen,
        "rew": timed(lambda: reward([prompt] * args.group, texts, completion_ids.tolist()), **n),
        "ref": timed(reference_forward, **n),
        "fb": timed(forward_backward, **n),
    }


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    parts = part_seconds(args)
    step = grpo_step_seconds(args)
    total = sum(parts.values())
    print(f"G={args.group} L={args.new_tokens} threads={args.threads} "
          f"activation_checkpointing={args.activation_checkpointing} steps={args.steps} (median s/step)")
    for name, seconds in parts.items():
        print(f"  {name:>4}: {seconds:7.2f} s  ({seconds / total:5.1%} of the parts)")
    print(f"  sum of parts: {total:7.2f} s")
    print(f"  GRPO step:    {step:7.2f} s")
    print(f"  step / sum of parts = {step / total:.2f}")
    print(f"  step / plain generate = {step / parts['gen']:.2f}")


if __name__ == "__main__":
    main()
