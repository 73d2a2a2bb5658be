"""The endogenous reward itself: its settings (``config``, torch-free), the reward as tensor functions of
per-token statistics (``bellman``), the batched scorer that computes those statistics from a model
(``scorer``), a response's sentence units (``segmentation``) and their rewards (``sentences``), and the
per-token view of one response (``token_view``). docs/definitions.md#endogenous-reward."""
