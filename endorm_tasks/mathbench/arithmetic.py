"""Generated arithmetic word problems: an easy math task whose answers a 135M model can get right.

Each problem adds, subtracts or multiplies two operands of 1 to 3 digits in a short English sentence
(``digits`` = the digits of the larger operand); the answer is the exact integer. Train and test are disjoint by construction:
which split a problem belongs to is a fixed hash of its canonical ``(operation, a, b)`` triple
(``a >= b``: ``3 + 5`` and ``5 + 3`` are one problem), independent of the seed, so no train set of any
seed shares a problem with any test set. The seed only chooses which problems of a split are drawn
and how they are worded. Documents have the schema of the math benchmarks' documents
(``problems.to_doc``: ``id``, ``problem``, ``answers``, ``multiple``, ``data_source``) plus
``operation``, ``digits`` and ``operands``.
"""

from __future__ import annotations

import hashlib
import random

from endorm_tasks.errors import ConfigError

OPERATIONS: tuple[str, ...] = ("add", "sub", "mul")
SPLITS: tuple[str, ...] = ("train", "test")
DIGITS: tuple[int, ...] = (1, 2, 3)
TEST_PERCENT = 20
"""Share of all problems (canonical triples) that belong to the test split."""
MAX_PROBLEMS = 100_000
# One-digit operands start at 2 so that no sentence reads "1 marbles".
LOWEST = {1: 2, 2: 10, 3: 100}
NAMES = ("Sam", "Mia", "Leo", "Ana", "Omar", "Priya", "Ken", "Zoe")
ITEMS = ("marbles", "apples", "stickers", "pencils", "coins", "cards", "shells", "books")
TEMPLATES: dict[str, tuple[str, ...]] = {
    "add": (
        "{name} has {a} {item} and finds {b} more. How many {item} does {name} have now?",
        "A box holds {a} {item}. Then {b} more {item} are put in. How many {item} are in the box now?",
        "{name} collected {a} {item} on Monday and {b} {item} on Tuesday. How many {item} did {name} collect in all?",
        "What is {a} plus {b}?",
    ),
    "sub": (
        "{name} had {a} {item} and gave {b} of them away. How many {item} does {name} have left?",
        "There were {a} {item} in a box. {name} took {b} of them out. How many {item} are left in the box?",
        "{name} needs {a} {item} and already has {b}. How many more {item} does {name} need?",
        "What is {a} minus {b}?",
    ),
    "mul": (
        "{name} buys {a} bags with {b} {item} in each bag. How many {item} does {name} buy in total?",
        "A shelf has {a} rows with {b} {item} in each row. How many {item} are on the shelf?",
        "For {a} days, {name} gets {b} {item} each day. How many {item} does {name} get in all?",
        "What is {a} times {b}?",
    ),
}


def canonical(operation: str, a: int, b: int) -> tuple[str, int, int]:
    """The problem's identity: the larger operand first (the only order for subtraction)."""
    return (operation, max(a, b), min(a, b))


def split_of(operation: str, a: int, b: int) -> str:
    """``"test"`` or ``"train"``: a fixed hash of the canonical triple, so the splits never overlap."""
    key = "%s:%d:%d" % canonical(operation, a, b)
    bucket = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % 100
    return "test" if bucket < TEST_PERCENT else "train"


def solve(operation: str, a: int, b: int) -> int:
    if operation == "add":
        return a + b
    if operation == "sub":
        return a - b
    if operation == "mul":
        return a * b
    raise ValueError(f"unknown operation {operation!r}; expected one of {OPERATIONS}")


def draw_operands(rng: random.Random, operation: str, digits: int) -> tuple[int, int]:
    """One operand of ``digits`` digits, the other of 1 to ``digits``; for subtraction the larger comes
    first (the result is >= 0), otherwise the order is drawn."""
    a = rng.randint(LOWEST[digits], 10**digits - 1)
    other_digits = rng.randint(1, digits)
    b = rng.randint(LOWEST[other_digits], 10**other_digits - 1)
    if operation == "sub" or rng.random() < 0.5:
        return max(a, b), min(a, b)
    return min(a, b), max(a, b)


def word_problem(rng: random.Random, operation: str, a: int, b: int) -> str:
    template = rng.choice(TEMPLATES[operation])
    return template.format(a=a, b=b, name=rng.choice(NAMES), item=rng.choice(ITEMS))


def check_request(split: str, n: int) -> None:
    if split not in SPLITS:
        raise ConfigError(f"arithmetic split {split!r}: expected one of {SPLITS}")
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_PROBLEMS:
        raise ConfigError(f"arithmetic n={n!r}: expected an integer from 1 to {MAX_PROBLEMS}")


def arithmetic_problems(split: str, n: int, seed: int = 0) -> list[dict]:
    """``n`` distinct problems of ``split`` ("train" or "test"), the same for the same arguments.

    Operations cycle add, sub, mul (so each has n/3 problems); the digit count (1-3) is drawn per
    problem. A list for a smaller ``n`` is a prefix of the list for a larger one (``--limit`` safe).
    """
    check_request(split, n)
    rng = random.Random(f"arithmetic:{split}:{seed}")
    seen: set[tuple[str, int, int]] = set()
    docs: list[dict] = []
    while len(docs) < n:
        operation = OPERATIONS[len(docs) % len(OPERATIONS)]
        digits = rng.choice(DIGITS)
        a, b = draw_operands(rng, operation, digits)
        key = canonical(operation, a, b)
        if key in seen or split_of(operation, a, b) != split:
            continue
        seen.add(key)
        docs.append(
            {
                "id": f"arithmetic/{operation}/{a}/{b}",
                "problem": word_problem(rng, operation, a, b),
                "answers": [str(solve(operation, a, b))],
                "multiple": False,
                "data_source": f"generated:arithmetic seed={seed}",
                "operation": operation,
                "digits": digits,
                "operands": [a, b],
            }
        )
    return docs


def problems_at_levels(split: str, n: int, seed: int = 0, levels: tuple[int, ...] | None = None) -> list[dict]:
    """The first ``n`` problems of ``split`` whose ``digits`` is one of ``levels`` (all when None), in
    the order of ``arithmetic_problems``, so a shorter list is a prefix of a longer one.

    Few problems have only one-digit operands (16 in the test split, 92 in train), so the draw grows
    until ``n`` are kept; when a four times larger draw adds none, those levels are used up and the
    request is a ConfigError, not a shorter list.
    """
    check_request(split, n)
    if levels is None:
        return arithmetic_problems(split, n, seed)
    draw, kept = n, -1
    while True:
        docs = [d for d in arithmetic_problems(split, draw, seed) if d["digits"] in levels]
        if len(docs) >= n:
            return docs[:n]
        if len(docs) == kept or draw == MAX_PROBLEMS:
            raise ConfigError(
                f"only {len(docs)} {split} problems with digit levels {list(levels)} in the first {draw} "
                f"of seed {seed}; ask for fewer (n={n})"
            )
        draw, kept = min(MAX_PROBLEMS, 4 * draw), len(docs)


DEFAULT_TEST_SIZE = 300
"""Problems of the lm-eval ``endorm_arith`` group (100 per operation)."""


def digit_levels(value) -> tuple[int, ...] | None:
    """``--metadata arith_levels=…`` as digit counts: ``[1, 2]``, ``"1,2"`` or ``2``; None = all."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, (list, tuple)) else [value]
    try:
        levels = tuple(int(x) for x in items)
    except (TypeError, ValueError):
        levels = ()
    if not levels or not set(levels) <= set(DIGITS):
        raise ConfigError(f"arith_levels={value!r}: expected digit counts from {DIGITS}, e.g. [1, 2]")
    return levels


def metadata_int(key: str, value, minimum: int | None = None) -> int:
    """An integer ``--metadata`` value of at least ``minimum``: an int, its text (lm-eval may pass
    ``key=value`` metadata as text) or a whole float; never a bool or a fraction, which ``int`` would
    turn into a number silently. The one parser of every integer ``--metadata`` value."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        number = None
    elif isinstance(value, float):
        number = int(value) if value.is_integer() else None
    else:
        try:
            number = int(value)
        except ValueError:
            number = None
    if number is None or (minimum is not None and number < minimum):
        expected = "an integer" if minimum is None else f"an integer >= {minimum}"
        raise ConfigError(f"{key}={value!r}: expected {expected}")
    return number


def custom_dataset(
    operation: str | None = None,
    *,
    arith_n: int = DEFAULT_TEST_SIZE,
    arith_seed: int = 0,
    arith_levels=None,
    **_metadata,
):
    """lm-eval ``custom_dataset``: the test split's first ``arith_n`` problems (``--metadata arith_n=…
    arith_seed=…``), only those of ``operation`` when the YAML's ``dataset_kwargs`` name one, and with
    ``arith_levels`` (e.g. ``[1, 2]``) only those whose larger operand has that many digits (the levels
    an RL run trained on; ``arith_n`` then counts the problems kept). The keyword-only parameters are
    the ``--metadata`` keys read; lm-eval also passes model_args and the task metadata (``**_metadata``)."""
    import datasets

    if operation is not None and operation not in OPERATIONS:
        raise ConfigError(f"arithmetic operation {operation!r}: expected one of {OPERATIONS}")
    docs = problems_at_levels("test", metadata_int("arith_n", arith_n), metadata_int("arith_seed", arith_seed),
                              digit_levels(arith_levels))
    docs = [d for d in docs if operation is None or d["operation"] == operation]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})
