"""Sentence-level endogenous rewards on RM-Bench (issue 25): one resumable scoring pass, then everything
from the stored statistics with no model call (docs/definitions.md#sentence-reward).

    python reports/sentence/sentence_report.py score OUT [--limit N]   # resumable: chunks of documents
    python reports/sentence/sentence_report.py merge OUT [--limit N]   # OUT/store/rmbench, one token store
    endorm-sweep run OUT/store --aggregates sum,mean,sentence_mean,sentence_min --out OUT/sweep.json
    python reports/sentence/sentence_report.py table OUT/sweep.json --target reports/sentence/table.md
    python reports/sentence/sentence_report.py localise OUT --sweep OUT/sweep.json --target reports/sentence/localisation.json
    python reports/sentence/sentence_report.py figure OUT --target reports/sentence/pair.png

``run.sh`` runs them in order. ``score`` writes one token store per chunk of documents
(``OUT/chunks/<domain>_<first document>/``); a chunk whose ``run.json`` exists is done (``save_store``
writes it last), so a killed run continues where it stopped. The localisation reads RM-Bench chat's
``error_key`` (the wrong fact injected into the rejected responses) from the data file and recomputes
each response's units from its text with the tokenizer alone, checking them against the stored ones.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from endorm_tasks.benchmarks import rmbench
from endorm_tasks.cli.errors import run_cli
from endorm_tasks.data_sources import DataError, read_json, resolve_data_dir
from endorm_tasks.reward.bellman import token_rewards
from endorm_tasks.reward.config import SENTENCE_AGGREGATES, RewardConfig
from endorm_tasks.reward.segmentation import Unit, unit_starts, units_of
from endorm_tasks.reward.sentences import sentence_rewards
from endorm_tasks.sweep.token_store import TokenStore, load_store, save_store

DOMAINS: tuple[str, ...] = ("chat", "code", "safety")
AGGREGATES: tuple[str, ...] = ("sum", "mean", *SENTENCE_AGGREGATES)
MODEL = "bundled"


def domain_docs(domain: str, limit: int | None, data_dir: str | None) -> list[dict]:
    return rmbench.load_rmbench(domain, data_dir)[:limit]


# -- score and merge --


def score(out: Path, limit: int | None, chunk: int, data_dir: str | None, domains: Sequence[str] = DOMAINS) -> None:
    """Score every chunk of documents that has no store yet, one store per chunk."""
    from endorm_tasks.bundled import load_model_and_tokenizer
    from endorm_tasks.cli.sweep import model_name
    from endorm_tasks.reward.scorer import EndoScorer
    from endorm_tasks.sweep.grid import benchmark_requests, score_requests
    from endorm_tasks.sweep.token_store import RunMeta

    scorer = None
    for domain in domains:
        docs = domain_docs(domain, limit, data_dir)
        for start in range(0, len(docs), chunk):
            path = out / "chunks" / f"{domain}_{start:04d}"
            if (path / "run.json").is_file():
                continue
            if scorer is None:
                model, tokenizer = load_model_and_tokenizer(MODEL)
                scorer = EndoScorer(model, tokenizer, RewardConfig())
            part = docs[start : start + chunk]
            metas, stats = score_requests(scorer, benchmark_requests("rmbench", part))
            source = ", ".join(dict.fromkeys(d["data_source"] for d in part))
            run = RunMeta("rmbench", model_name(MODEL), 1.0, True, "chat", source, f"{domain} documents {start}..{start + len(part) - 1}")
            save_store(path, run, metas, stats)
            print(f"sentence_report: {path} ({len(metas)} responses)", file=sys.stderr, flush=True)


def merge(out: Path, limit: int | None, data_dir: str | None, domains: Sequence[str] = DOMAINS) -> Path:
    """The chunks' stores of ``domains``, in order, as one RM-Bench token store ``OUT/store/rmbench``."""
    chunks = [load_store(path) for domain in domains for path in sorted((out / "chunks").glob(f"{domain}_*/"))
              if (path / "run.json").is_file()]
    expected = [d["id"] for domain in domains for d in domain_docs(domain, limit, data_dir) for _ in range(6)]
    found = [r.item for c in chunks for r in c.responses]
    if found != expected:
        raise DataError(f"{out / 'chunks'}: the chunks hold {len(found)} responses, not the {len(expected)} of the "
                        "documents in order; run `score` (with the same --limit and --chunk) to finish")
    first = chunks[0].run
    sources = ", ".join(dict.fromkeys(s for c in chunks for s in c.run.data_source.split(", ")))
    subset = "all items" if limit is None else f"first {limit} documents per domain"
    run = type(first)(first.benchmark, first.model, first.alpha, first.append_eos, first.prompt_format, sources, subset,
                      {"domains": list(domains), "limit": limit, "dtype": "float32"})
    return save_store(out / "store" / "rmbench", run, [r for c in chunks for r in c.responses], [s for c in chunks for s in c.stats])


# -- the table --


def best_sum_config(result: dict) -> dict:
    """The sweep's best configuration among the `sum` ones (the usual sweep's choice of gamma and form)."""
    from endorm_tasks.sweep.grid import best_label

    sums = [c for c in result["configs"] if c["aggregate"] == "sum"]
    label = best_label(result["rmbench"], "rmbench", [c["label"] for c in sums])
    return next(c for c in sums if c["label"] == label)


def table(result: dict) -> str:
    """Accuracy and r(R, length) of each aggregate at gamma 1 and at the best `sum` gamma (its form)."""
    from endorm_tasks.sweep.grid import benchmark_columns

    best = best_sum_config(result)
    header, cells = benchmark_columns(result, "rmbench")
    lines = [f"| Form | gamma | Aggregate | {' | '.join(header)} |", "|" + " --- |" * (len(header) + 3)]
    by_key = {(c["reward_form"], c["gamma"], c["aggregate"]): c["label"] for c in result["configs"]}
    for form in dict.fromkeys(["soft_bellman", best["reward_form"]]):
        for gamma in dict.fromkeys([1.0, best["gamma"]]):
            for aggregate in AGGREGATES:
                label = by_key.get((form, gamma, aggregate))
                if label is not None:
                    lines.append(f"| {form} | {gamma:g} | {aggregate} | {' | '.join(cells(label))} |")
    note = (f"Best `sum` configuration of the sweep: `{best['label']}`. Accuracy in %, r(R,len) = Pearson r of R "
            f"with scored tokens over all responses; `mean` exists at gamma 1 only.")
    return "\n".join(lines) + "\n\n" + note + "\n"


# -- units of stored responses --


def response_text(doc: dict, role: str, index: int) -> str:
    return doc[role][index]


def stored_units(store: TokenStore, docs: dict[str, dict], tokenizer, rows: Sequence[int]) -> dict[int, list[Unit]]:
    """Each row's units recomputed from its text (tokenizer only), checked against the stored starts."""
    units = {}
    for row in rows:
        meta, stats = store.responses[row], store.stats[row]
        text = response_text(docs[meta.item], meta.role, meta.index)
        found = units_of(tokenizer, text, stats.token_ids, trailing=int(store.run.append_eos))
        if unit_starts(found) != stats.unit_starts:
            raise DataError(f"{meta.item} {meta.role}[{meta.index}]: units of the text differ from the stored ones")
        units[row] = found
    return units


def unit_rewards(store: TokenStore, row: int, config: RewardConfig) -> list[float]:
    s = store.stats[row]
    rewards = token_rewards(s.q, s.v, s.v_next, config.reward_form, config.terminal_value)
    return sentence_rewards(rewards, s.unit_starts, config.gamma).tolist()


def aligned_units(chosen: Sequence[str], rejected: Sequence[str]) -> list[tuple[int, int, bool]]:
    """(chosen unit, rejected unit, edited?) of the units difflib pairs by text: equal runs, and replaced
    runs of the same length position by position (edited); inserted or deleted units stay unpaired."""
    pairs = []
    matcher = difflib.SequenceMatcher(None, list(chosen), list(rejected), autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal" or (op == "replace" and i2 - i1 == j2 - j1):
            pairs += [(i, j, op == "replace") for i, j in zip(range(i1, i2), range(j1, j2))]
    return pairs


def localisation(store: TokenStore, chat: dict[str, dict], docs: dict[str, dict], tokenizer, config: RewardConfig) -> dict:
    """Over RM-Bench chat's rejected responses whose chosen counterpart (same style) lacks the error key:
    how often the lowest-reward unit holds the key, against chance (mean 1/K) and against always naming
    the first unit (the injected fact often sits there), and how often the unit
    whose reward drops most from chosen to rejected (units aligned by text) is an edited one, over the
    pairs with both edited and unedited aligned units."""
    rows = {(m.item, m.role, m.index): k for k, m in enumerate(store.responses)}
    lowest, drop = [], []
    skipped = 0
    for item_id, record in chat.items():
        key = record["error_key"]
        for style in range(rmbench.N_STYLES):
            chosen_row, rejected_row = rows[(item_id, "chosen", style)], rows[(item_id, "rejected", style)]
            if key in response_text(docs[item_id], "chosen", style):
                skipped += 1
                continue
            units = stored_units(store, docs, tokenizer, [chosen_row, rejected_row])
            rejected_units = [u.text for u in units[rejected_row]]
            rewards = unit_rewards(store, rejected_row, config)
            with_key = [key in text for text in rejected_units]
            low = min(range(len(rewards)), key=rewards.__getitem__)
            lowest.append({"item": item_id, "style": style, "units": len(rewards), "key_units": sum(with_key), "hit": with_key[low],
                           "lowest": low, "first_holds_key": with_key[0]})
            pairs = aligned_units([u.text for u in units[chosen_row]], rejected_units)
            if 0 < sum(edited for *_, edited in pairs) < len(pairs):  # else the answer is fixed in advance
                chosen_rewards = unit_rewards(store, chosen_row, config)
                i, j, edited = max(pairs, key=lambda p: chosen_rewards[p[0]] - rewards[p[1]])
                drop.append({"item": item_id, "style": style, "paired": len(pairs),
                             "edited": sum(e for *_, e in pairs), "hit": edited})
    return {"config": config.sweep.__dict__, "n_skipped_key_in_chosen": skipped, **shares(lowest, drop),
            "by_style": {str(style): shares([r for r in lowest if r["style"] == style], [r for r in drop if r["style"] == style])
                         for style in range(rmbench.N_STYLES)},
            "rows": {"lowest": lowest, "drop": drop}}


def share(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def shares(lowest: list[dict], drop: list[dict]) -> dict:
    """The localisation figures of some rejected responses (their per-response rows)."""
    holding = [r for r in lowest if r["key_units"]]
    return {
        "n_rejected": len(lowest),
        "n_key_in_rejected": len(holding),
        "lowest_unit_holds_key": share([r["hit"] for r in lowest]),
        "chance_mean_1_over_units": share([1 / r["units"] for r in lowest]),
        "chance_key_units_over_units": share([r["key_units"] / r["units"] for r in lowest]),
        "first_unit_holds_key": share([r["first_holds_key"] for r in lowest]),
        "lowest_is_first_unit": share([r["lowest"] == 0 for r in lowest]),
        "lowest_unit_holds_key_where_key_present": share([r["hit"] for r in holding]),
        "chance_where_key_present": share([r["key_units"] / r["units"] for r in holding]),
        "n_aligned_with_edit": len(drop),
        "largest_drop_is_edited": share([r["hit"] for r in drop]),
        "chance_edited_over_paired": share([r["edited"] / r["paired"] for r in drop]),
    }


def chat_records(data_dir: str | None) -> dict[str, dict]:
    """RM-Bench chat's rows with their ``error_key``, by document id as the store names them."""
    local = resolve_data_dir(data_dir)
    if local is None:
        raise DataError("the localisation reads RM-Bench chat's error_key from the local data: set ENDORM_DATA_DIR")
    return {f"chat/{row['id']}": row for row in read_json(rmbench.rmbench_file(local, "chat"))}


def load_inputs(out: Path, data_dir: str | None):
    from transformers import AutoTokenizer

    from endorm_tasks.bundled import resolve_model_path

    store = load_store(out / "store" / "rmbench")
    items = {m.item for m in store.responses}
    docs = {d["id"]: d for domain in DOMAINS for d in rmbench.load_rmbench(domain, data_dir) if d["id"] in items}
    chat = {k: v for k, v in chat_records(data_dir).items() if k in items}
    return store, docs, chat, AutoTokenizer.from_pretrained(resolve_model_path(MODEL))


def localise(out: Path, sweep: Path, target: Path, data_dir: str | None) -> dict:
    store, docs, chat, tokenizer = load_inputs(out, data_dir)
    best = best_sum_config(read_json(sweep))
    configs = {"gamma=1,soft_bellman": RewardConfig()}
    configs[f"gamma={best['gamma']:g},{best['reward_form']}"] = RewardConfig(gamma=best["gamma"], reward_form=best["reward_form"])
    result = {name: localisation(store, chat, docs, tokenizer, config) for name, config in configs.items()}
    target.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result


def localisation_markdown(result: dict) -> str:
    """One row per configuration and style (all styles first): the shares in %, chance beside each."""
    def pct(value: float | None) -> str:
        return "–" if value is None else f"{100 * value:.1f}"

    lines = ["| Config | styles | rejected (key not in chosen) | lowest unit holds key | chance (mean 1/K) | "
             "chance (key units / K) | first unit holds key | lowest is the first unit | aligned pairs | "
             "largest drop is edited | chance (edited / aligned) |",
             "|" + " --- |" * 11]
    for name, r in result.items():
        for styles, part in [("all", r), *((f"style {k}", v) for k, v in r["by_style"].items())]:
            lines.append(f"| {name} | {styles} | {part['n_rejected']} | {pct(part['lowest_unit_holds_key'])} | "
                         f"{pct(part['chance_mean_1_over_units'])} | {pct(part['chance_key_units_over_units'])} | "
                         f"{pct(part['first_unit_holds_key'])} | {pct(part['lowest_is_first_unit'])} | "
                         f"{part['n_aligned_with_edit']} | {pct(part['largest_drop_is_edited'])} | {pct(part['chance_edited_over_paired'])} |")
    return "\n".join(lines) + "\n"


# -- the figure --


def figure(out: Path, target: Path, data_dir: str | None, style: int = 1, most_units: int = 20) -> str:
    """One chat pair, chosen and rejected side by side, R_k per unit, the unit holding the error key marked.
    The pair: the first chat document (in file order) whose rejected response of ``style`` holds the key
    and has 3 to ``most_units`` units and whose chosen one does not hold it; whether it is a hit or not."""
    from matplotlib.figure import Figure

    from endorm_tasks.reporting.plots import PNG_METADATA
    from endorm_tasks.reward.token_view import colour_scale, reward_colour

    store, docs, chat, tokenizer = load_inputs(out, data_dir)
    rows = {(m.item, m.role, m.index): k for k, m in enumerate(store.responses)}
    config = RewardConfig()
    for item_id, record in chat.items():
        key = record["error_key"]
        pair = [rows[(item_id, role, style)] for role in ("chosen", "rejected")]
        units = stored_units(store, docs, tokenizer, pair)
        texts = [[u.text for u in units[row]] for row in pair]
        if key not in response_text(docs[item_id], "chosen", style) and 3 <= len(texts[1]) <= most_units and any(key in t for t in texts[1]):
            break
    else:
        raise DataError("no chat pair fits the figure's rule")
    rewards = [unit_rewards(store, row, config) for row in pair]
    scale = colour_scale([r for side in rewards for r in side])
    fig = Figure(figsize=(15, 0.45 * max(map(len, texts)) + 2.2), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True)
    for ax, role, side_texts, side_rewards in zip(axes, ("chosen", "rejected"), texts, rewards):
        y = list(range(len(side_texts)))[::-1]
        ax.barh(y, side_rewards, color=[reward_colour(r, scale) for r in side_rewards], edgecolor="#555", linewidth=0.5)
        labels = [("[error: " + key + "] " if key in t else "") + t.strip().replace("\n", " ") for t in side_texts]
        ax.set_yticks(y, [label[:70] + ("…" if len(label) > 70 else "") for label in labels], fontsize=7, parse_math=False)
        for yk, text, r in zip(y, side_texts, side_rewards):
            if key in text:
                ax.barh([yk], [r], fill=False, edgecolor="black", linewidth=2.0, hatch="//")
        ax.axvline(0.0, color="#555", linewidth=0.6)
        ax.set_title(f"{role}[{style}], R = {sum(side_rewards):.1f}", fontsize=9)
        ax.set_xlabel("sentence reward R_k (gamma 1, soft_bellman)")
    fig.suptitle(f"RM-Bench {item_id}: sentence rewards, the unit holding the error key hatched", fontsize=10, parse_math=False)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=120, metadata=PNG_METADATA)
    return item_id


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("score", "merge", "localise", "figure"):
        s = sub.add_parser(name)
        s.add_argument("out", type=Path, help="work directory (chunks, store)")
        s.add_argument("--limit", type=int, help="first N documents per domain")
        s.add_argument("--data_dir", help="local data directory (default: $ENDORM_DATA_DIR)")
        if name == "score":
            s.add_argument("--chunk", type=int, default=10, help="documents per stored chunk")
        if name in ("score", "merge"):
            s.add_argument("--domains", type=lambda text: text.split(","), default=list(DOMAINS),
                           help=f"comma-separated RM-Bench domains (default {','.join(DOMAINS)})")
        if name == "localise":
            s.add_argument("--sweep", type=Path, required=True)
        if name in ("localise", "figure"):
            s.add_argument("--target", type=Path, required=True)
    t = sub.add_parser("table")
    t.add_argument("sweep", type=Path)
    t.add_argument("--target", type=Path, required=True)
    args = p.parse_args(argv)
    run_cli("sentence_report", lambda: run(args))


def run(args: argparse.Namespace) -> None:
    if args.command == "score":
        score(args.out, args.limit, args.chunk, args.data_dir, args.domains)
    elif args.command == "merge":
        print(merge(args.out, args.limit, args.data_dir, args.domains))
    elif args.command == "table":
        args.target.write_text(table(read_json(args.sweep)), encoding="utf-8")
    elif args.command == "localise":
        result = localise(args.out, args.sweep, args.target, args.data_dir)
        args.target.with_suffix(".md").write_text(localisation_markdown(result), encoding="utf-8")
    else:
        print(figure(args.out, args.target, args.data_dir))


if __name__ == "__main__":
    main()
