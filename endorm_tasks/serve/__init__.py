"""``endorm-serve``: the endogenous reward as an HTTP service for distributed RL engines (docs/serve.md).

Owns the server (``app``: FastAPI on uvicorn, one reward model and one fixed reward configuration per
process; ``cli``: the command), the batching queue (``batching``: concurrent requests gathered into one
scorer call, off the event loop), the request and reply shapes of endorm's own ``/score`` and of
OpenRLHF's ``/get_reward`` with the rule that reads a response's ending from its text (``protocol``),
and the clients the engines load (``clients``: the HTTP client and TRL's reward callables;
``openrlhf_reward_func``: OpenRLHF's ``reward_func`` file; ``verl_reward``: verl's ``compute_score``).
Scoring itself is ``endorm-score``'s: the same context builder, tokenisation and batched scorer.
"""
