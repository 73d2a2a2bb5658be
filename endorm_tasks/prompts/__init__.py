"""How a prompt becomes the context a response is scored after: prompt formats and the paper's templates
(``formatting``) and the one context builder every scorer uses (``contexts``). docs/definitions.md#chat-format."""
