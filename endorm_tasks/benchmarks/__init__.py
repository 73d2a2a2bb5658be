"""The preference benchmarks: the preference core (``preference``: items, pairs, the one pair decision)
and, per benchmark, its data, its items and its per-document metrics as functions of the wins
(``rmbench``, ``dsp``, ``multifaceted``). Scorer-agnostic: EndoRM, judges and the sweep all feed wins here."""
