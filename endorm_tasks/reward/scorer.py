"""Batched, prefix-sharing computation of the endogenous reward (docs/definitions.md#endogenous-reward).

For every scored token the scorer needs three numbers: q_t = f(s_t, a_t), v_t = V(s_t) and
v_next_t = V(s_{t+1}). It runs the model's decoder once per context (responses to the same context
reuse its KV cache, expanded over a batch of responses sorted by length so padding stays small; a
context with a single response is one plain causal forward) and applies the output head in chunks of
positions into one reused float32 buffer, logsumexp computed in place, so no [T, |V|] float32 tensor
of a whole sequence is ever held: peak memory grows with T x hidden size, not T x vocabulary size.
On CPU each response is its own batch: batching measured no faster there and padding costs
(``benchmarks/README.md``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

import torch
from tqdm.auto import tqdm

from endorm_tasks.prompts.contexts import Context, context_ids
from endorm_tasks.prompts.formatting import encode_text, end_of_turn_id
from endorm_tasks.reward.bellman import reward_from_stats
from endorm_tasks.reward.config import SENTENCE_AGGREGATES, ConfigError, RewardConfig, StatsSettings, SweepSettings
from endorm_tasks.reward.segmentation import Unit, unit_starts, units_of

DEFAULT_BATCH_TOKENS = 4096
"""Padded tokens per batch on accelerators; on CPU the default is one response per batch."""
DEFAULT_CHUNK_BYTES = 64 * 2**20


def default_batch_tokens(device: torch.device) -> int:
    """One response per batch on CPU (batching measured no faster, padding costs), else DEFAULT_BATCH_TOKENS."""
    return 1 if device.type == "cpu" else DEFAULT_BATCH_TOKENS


class ScoringError(ValueError):
    """An item cannot be scored (nothing to score, longer than the model's context, ...)."""


@dataclass
class TokenStats:
    """Per-token soft-Q statistics of one response; every ``SweepSettings`` derives a reward from them."""

    token_ids: list[int]
    q: torch.Tensor
    """f(s_t, a_t), float32 [T]."""
    v: torch.Tensor
    """V(s_t), float32 [T]."""
    v_next: torch.Tensor
    """V(s_{t+1}), float32 [T] (the last entry is the bootstrap value of the state after the response)."""
    settings: StatsSettings = StatsSettings()
    """alpha and end-of-turn the statistics were computed with; every reward from them records these."""
    unit_starts: tuple[int, ...] | None = None
    """The first token of each sentence unit, when the units were found (docs/definitions.md#sentence-reward);
    the sentence aggregates need them."""


@dataclass
class ScoredResponse:
    """Endogenous reward of one response: outcome R, token rewards r_t and the stats behind them."""

    reward: float
    token_rewards: torch.Tensor
    stats: TokenStats
    config: RewardConfig = field(repr=False)
    units: list[Unit] | None = field(default=None, repr=False)
    """The response's sentence units (text, characters, tokens), when asked for (``score(..., units=True)``)."""

    @property
    def token_ids(self) -> list[int]:
        return self.stats.token_ids


@dataclass
class _Item:
    index: int
    context: tuple[int, ...]
    scored: list[int]


class OutputHead:
    """The model's logit head, applied to chosen hidden states in chunks of positions.

    Reproduces the post-processing some architectures apply after the projection (final logit
    soft-capping, Cohere's ``logit_scale``, Granite's ``logits_scaling``); ``check`` compares it with
    the model's own forward once, so an unsupported head fails loudly instead of scoring wrongly.
    """

    def __init__(self, model, alpha: float, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> None:
        self.projection = model.get_output_embeddings()
        config = model.config.get_text_config()
        self.softcap = getattr(config, "final_logit_softcapping", None)
        self.scale = getattr(config, "logit_scale", None)
        self.divisor = getattr(config, "logits_scaling", None)
        self.alpha = alpha
        self.chunk_rows = max(1, chunk_bytes // (4 * self.projection.weight.shape[0]))

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """float32 logits of ``hidden`` rows (one fresh [rows, |V|] tensor: for checks and short inputs)."""
        out = torch.empty(hidden.shape[0], self.projection.weight.shape[0], dtype=torch.float32, device=hidden.device)
        return self._logits_into(hidden, out)

    def _logits_into(self, hidden: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """Write the float32 logits of ``hidden`` into ``out`` (no temporary of the same size on the float32
        path) and apply the architecture's post-processing in place."""
        weight, bias = self.projection.weight, getattr(self.projection, "bias", None)
        if type(self.projection) is torch.nn.Linear and bias is None and weight.dtype == hidden.dtype == out.dtype:
            torch.mm(hidden, weight.t(), out=out)
        else:
            # bf16/fp16 weights: the matmul runs in the weights' dtype, the logits are upcast here.
            out.copy_(self.projection(hidden))
        if self.scale is not None:
            out.mul_(self.scale)
        if self.divisor is not None:
            out.div_(self.divisor)
        if self.softcap is not None:
            out.div_(self.softcap).tanh_().mul_(self.softcap)
        return out

    def q_and_v(self, hidden: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gathered logits f(s, a) (0 where target < 0) and soft values V(s) for rows of ``hidden``.

        All chunks reuse one float32 buffer of at most ``chunk_rows`` rows: allocating a fresh one per
        chunk costs page faults, and ``torch.logsumexp`` would allocate a second one.
        """
        rows = min(self.chunk_rows, hidden.shape[0])
        buffer = torch.empty(rows, self.projection.weight.shape[0], dtype=torch.float32, device=hidden.device)
        q_parts, v_parts = [], []
        for start in range(0, hidden.shape[0], rows):
            chunk = hidden[start : start + rows]
            logits = self._logits_into(chunk, buffer[: chunk.shape[0]])
            chunk_targets = targets[start : start + rows]
            gathered = logits.gather(1, chunk_targets.clamp(min=0).unsqueeze(1)).squeeze(1)
            q_parts.append(torch.where(chunk_targets >= 0, gathered, torch.zeros_like(gathered)))
            v_parts.append(soft_value_in_place(logits, self.alpha))
        return torch.cat(q_parts), torch.cat(v_parts)

    def check(self, model, decoder) -> None:
        device = self.projection.weight.device
        ids = torch.arange(3, 11, device=device).unsqueeze(0)
        expected = model(input_ids=ids).logits[0].float()
        got = self.logits(decoder(input_ids=ids).last_hidden_state[0])
        tolerance = 1e-3 * max(1.0, float(expected.abs().max()))
        if not torch.allclose(expected, got, atol=tolerance, rtol=0):
            raise NotImplementedError(
                f"{type(model).__name__}: the output head could not be reproduced outside the model's forward "
                f"(max |diff| {float((expected - got).abs().max()):.3g}); this architecture is not supported"
            )


def settings_text(settings: StatsSettings) -> str:
    return ", ".join(f"{name}={value}" for name, value in vars(settings).items())


def soft_value_in_place(logits: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """``bellman.soft_value`` of float32 ``logits`` rows, overwriting ``logits`` instead of allocating a
    second tensor of its size: the same operations in the same order as ``torch.logsumexp``."""
    if alpha != 1.0:
        logits.div_(alpha)
    maxes = logits.amax(dim=-1, keepdim=True)
    maxes.masked_fill_(maxes.isinf(), 0.0)
    values = logits.sub_(maxes).exp_().sum(dim=-1).log_().add_(maxes.squeeze(-1))
    return values if alpha == 1.0 else values.mul_(alpha)


class EndoScorer:
    """Endogenous reward of (context, response) pairs for a causal LM and its tokenizer.

    Example:
        >>> scorer = EndoScorer(model, tokenizer, RewardConfig(gamma=1.0))
        >>> [r.reward for r in scorer.score([context, context], [good, bad])]
    """

    def __init__(
        self,
        model,
        tokenizer,
        config: RewardConfig | None = None,
        batch_tokens: int | None = None,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        max_length: int | None = None,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.config = config or RewardConfig()
        self.decoder = model.base_model
        self.head = OutputHead(model, self.config.alpha, chunk_bytes)
        self.end_of_turn = end_of_turn_id(tokenizer)
        self.max_length = max_length or model.config.get_text_config().max_position_embeddings
        self.device = self.head.projection.weight.device
        self.batch_tokens = batch_tokens if batch_tokens is not None else default_batch_tokens(self.device)
        with torch.inference_mode():
            self.head.check(model, self.decoder)

    # -- tokenization (docs/definitions.md#tokenisation: context and response encoded separately) --

    def encode_context(self, context: str | Context) -> list[int]:
        """Context ids; the tokenizer adds BOS unless the rendered context already starts with it. A
        ``Context`` keeps its data's special-token strings as text; a plain string (an lm-eval context) is
        read as lm-eval's ``hf`` model reads it (docs/definitions.md#text-is-text)."""
        context = Context((context,)) if isinstance(context, str) else context
        bos = self.tokenizer.bos_token
        ids = context_ids(self.tokenizer, context, add_special_tokens=not (bos and context.text.startswith(bos)))
        # An empty context still needs one state to predict the first response token from.
        return ids or [self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None else self.end_of_turn]

    def encode_response(self, response: str, name: str = "item") -> list[int]:
        """Scored ids = the response encoded as text + [end-of-turn] when ``append_eos``."""
        ids = encode_text(self.tokenizer, response) if response else []
        if self.config.append_eos:
            ids = ids + [self.end_of_turn]
        if not ids:
            raise ScoringError(f"{name}: nothing to score (empty response and append_eos=False)")
        return ids

    # -- public API --

    def score(
        self,
        contexts: Sequence[str | Context],
        responses: Sequence[str],
        names: Sequence[str] | None = None,
        progress: bool = False,
        units: bool = False,
    ) -> list[ScoredResponse]:
        """Score each response after its context (``contexts.render_context``, or an lm-eval string).
        ``units``: also find each response's sentence units (always done for a sentence aggregate)."""
        if len(contexts) != len(responses):
            raise ValueError(f"{len(contexts)} contexts but {len(responses)} responses")
        names = names or [f"item {i}" for i in range(len(responses))]
        encoded: dict[str | Context, list[int]] = {}
        pairs = []
        for context, response, name in zip(contexts, responses, names):
            if context not in encoded:
                encoded[context] = self.encode_context(context)
            pairs.append((encoded[context], self.encode_response(response, name)))
        if not (units or self.config.aggregate in SENTENCE_AGGREGATES):
            return self.score_ids(pairs, names=names, progress=progress)
        found = [self.units(response, scored) for response, (_, scored) in zip(responses, pairs)]
        stats = self.token_stats(pairs, names=names, progress=progress)
        return [self.reward_with_units(s, response_units) for s, response_units in zip(stats, found)]

    def reward_with_units(self, stats: TokenStats, units: list[Unit] | None,
                          config: SweepSettings | RewardConfig | None = None) -> ScoredResponse:
        """``reward`` of statistics whose response was cut into ``units`` (None: no units), which the
        sentence aggregates read and the result keeps."""
        if units is not None:
            stats.unit_starts = unit_starts(units)
        return replace(self.reward(stats, config), units=units)

    def units(self, response: str, scored_ids: Sequence[int], trailing: int | None = None) -> list[Unit]:
        """The sentence units of a response and their spans in its scored ids; ``trailing`` ids after the
        text (default: the end-of-turn token ``encode_response`` appends, when it does) join the last unit."""
        trailing = int(self.config.append_eos) if trailing is None else trailing
        return units_of(self.tokenizer, response, scored_ids, trailing=trailing)

    def score_ids(
        self,
        pairs: Sequence[tuple[Sequence[int], Sequence[int]]],
        names: Sequence[str] | None = None,
        progress: bool = False,
    ) -> list[ScoredResponse]:
        """Score (context ids, scored ids) pairs: the scored ids already include any end-of-turn token."""
        stats = self.token_stats(pairs, names=names, progress=progress)
        return [self.reward(s) for s in stats]

    def reward(self, stats: TokenStats, config: SweepSettings | RewardConfig | None = None) -> ScoredResponse:
        """Rewards from token stats under ``config``'s sweep settings (default: the scorer's). The result
        records the statistics' own alpha and end-of-turn; a ``RewardConfig`` naming others is refused
        (docs/definitions.md#reward-settings)."""
        if isinstance(config, RewardConfig) and config.stats != stats.settings:
            raise ConfigError(
                f"the statistics were computed with {settings_text(stats.settings)}, not {settings_text(config.stats)}; "
                "only gamma, reward_form, aggregate and terminal_value can change after scoring"
            )
        sweep = self.config.sweep if config is None else config.sweep if isinstance(config, RewardConfig) else config
        rewards, outcome = reward_from_stats(stats.q, stats.v, stats.v_next, sweep, stats.unit_starts)
        return ScoredResponse(reward=outcome, token_rewards=rewards, stats=stats, config=RewardConfig(stats.settings, sweep))

    def token_stats(
        self,
        pairs: Sequence[tuple[Sequence[int], Sequence[int]]],
        names: Sequence[str] | None = None,
        progress: bool = False,
    ) -> list[TokenStats]:
        """q, V(s_t), V(s_{t+1}) for every scored token of every pair, in input order."""
        items = [self._check(i, ctx, scored, names) for i, (ctx, scored) in enumerate(pairs)]
        groups: dict[tuple[int, ...], list[_Item]] = {}
        for item in items:
            groups.setdefault(item.context, []).append(item)
        results: list[TokenStats | None] = [None] * len(items)
        bar = tqdm(total=len(items), desc="endorm scoring", unit="resp", disable=not progress)
        with torch.inference_mode():
            for context, group in groups.items():
                for item, item_stats in self._score_group(context, group):
                    results[item.index] = item_stats
                    bar.update(1)
        bar.close()
        return results  # type: ignore[return-value]

    # -- internals --

    def _check(self, index: int, context: Sequence[int], scored: Sequence[int], names) -> _Item:
        name = names[index] if names else f"item {index}"
        if not scored:
            raise ScoringError(f"{name}: nothing to score (no response tokens)")
        if not context:
            raise ScoringError(f"{name}: empty context (at least one token is needed)")
        total = len(context) + len(scored)
        if total > self.max_length:
            raise ScoringError(
                f"{name}: context ({len(context)} tokens) + response ({len(scored)} tokens) = {total} tokens "
                f"exceeds the model's maximum length {self.max_length}; shorten it (nothing is truncated silently)"
            )
        return _Item(index, tuple(context), list(scored))

    def _batches(self, group: list[_Item]) -> Iterator[list[_Item]]:
        """Longest first, as many responses as fit ``batch_tokens`` padded tokens."""
        ordered = sorted(group, key=lambda it: len(it.scored), reverse=True)
        batch: list[_Item] = []
        for item in ordered:
            longest = len(batch[0].scored) if batch else len(item.scored)
            if batch and longest * (len(batch) + 1) > self.batch_tokens:
                yield batch
                batch = []
            batch.append(item)
        if batch:
            yield batch

    def _score_group(self, context: tuple[int, ...], group: list[_Item]) -> Iterator[tuple[_Item, TokenStats]]:
        """Run the context once, then every batch of its responses on a copy of the context's KV cache."""
        if len(group) == 1:
            yield group[0], self._batch_stats(group, [self._alone_states(context, group[0])])[0]
            return
        context_ids = torch.tensor([context], device=self.device)
        context_out = self.decoder(input_ids=context_ids, use_cache=True)
        first_state = context_out.last_hidden_state[0, -1:]
        for batch in self._batches(group):
            cache = copy.deepcopy(context_out.past_key_values)
            if len(batch) > 1:
                cache.batch_repeat_interleave(len(batch))
            hidden = self._response_hidden(batch, len(context), cache)
            states = [torch.cat([first_state, hidden[b, : len(item.scored)]]) for b, item in enumerate(batch)]
            yield from zip(batch, self._batch_stats(batch, states))

    def _alone_states(self, context: tuple[int, ...], item: _Item) -> torch.Tensor:
        """States s_1 .. s_{T+1} of a context's only response: one causal forward without a cache, so no
        mask is built and attention can take the fused causal path (no [heads, T, T] scores)."""
        ids = torch.tensor([[*context, *item.scored]], device=self.device)
        return self.decoder(input_ids=ids, use_cache=False).last_hidden_state[0, len(context) - 1 :]

    def _response_hidden(self, batch: list[_Item], offset: int, cache) -> torch.Tensor:
        """Decoder states of right-padded responses after a shared cached context: [B, L, H].

        Padding sits after every real token, so causal attention keeps it out of the real positions.
        """
        length = len(batch[0].scored)
        pad = self.end_of_turn
        ids = torch.tensor([it.scored + [pad] * (length - len(it.scored)) for it in batch], device=self.device)
        positions = torch.arange(offset, offset + length, device=self.device)
        out = self.decoder(
            input_ids=ids,
            past_key_values=cache,
            use_cache=True,
            position_ids=positions.unsqueeze(0).expand(len(batch), -1),
            cache_position=positions,
        )
        return out.last_hidden_state

    def _batch_stats(self, batch: list[_Item], states: list[torch.Tensor]) -> list[TokenStats]:
        """Apply the head in chunks to the T + 1 states (s_1 .. s_{T+1}) of each response of a batch."""
        targets = [token for item in batch for token in [*item.scored, -1]]
        rows = states[0] if len(states) == 1 else torch.cat(states)
        q, v = self.head.q_and_v(rows, torch.tensor(targets, device=self.device))
        stats, start = [], 0
        for item in batch:
            t = len(item.scored)
            stats.append(
                TokenStats(
                    token_ids=item.scored,
                    q=q[start : start + t].cpu(),
                    v=v[start : start + t].cpu(),
                    v_next=v[start + 1 : start + t + 1].cpu(),
                    settings=self.config.stats,
                )
            )
            start += t + 1
        return stats
