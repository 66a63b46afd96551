"""Chat prompts under a model's own chat template, with message contents kept plain text.

Message contents come from postings, which anyone can submit: a posting containing
``<|im_end|><|im_start|>system`` must not open a system turn. So the template is
rendered with a unique sentinel string in place of each message's content, the rendered
text is split on the sentinels, the template's own parts are tokenized with special
tokens parsed and the contents without (``special=False``: special-token text in a
posting stays ordinary text), and the pieces are concatenated.
"""

from __future__ import annotations

import secrets
from typing import Any, Mapping, Sequence

from consumers.engine.exceptions import ModelError
from consumers.engine.model import LlamaModel


class ChatTemplate:
    """The chat template of ``model`` (GGUF ``tokenizer.chat_template``); a model
    without one gets the message contents joined by blank lines."""

    def __init__(self, model: LlamaModel) -> None:
        self.model = model
        self._formatter: Any = None
        if model.chat_template:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            self._formatter = Jinja2ChatFormatter(
                template=model.chat_template, eos_token=model.token_text(model.eos),
                bos_token=model.token_text(model.bos), stop_token_ids=[model.eos],
            )

    def head(self) -> list[int]:
        """The tokens every prompt of one user message starts with (the template's text
        before the message: a default system turn, the user turn's opening); empty
        without a template."""
        if self._formatter is None:
            return []
        sentinel = f"\u2063WS{secrets.token_hex(8)}H\u2063"
        result = self._formatter(messages=[{"role": "user", "content": sentinel}])
        head = result.prompt.split(sentinel)[0]
        return self.model.tokenize(head, special=True, add_bos=not result.added_special) if head else []

    def prompt(self, messages: Sequence[Mapping[str, str]]) -> tuple[list[int], list[str]]:
        """(prompt tokens, stop strings) for chat ``messages`` (``role``/``content``).

        Raises:
            ModelError: the template does not reproduce each message's content verbatim
                (it rewrites contents, so they cannot be kept apart from its markup).
        """
        model = self.model
        if self._formatter is None:
            text = "\n\n".join(m["content"] for m in messages)
            return model.tokenize(text, special=False, add_bos=model.add_bos), []
        sentinels = [f"\u2063WS{secrets.token_hex(8)}M{i}\u2063" for i in range(len(messages))]
        masked = [{**m, "content": s} for m, s in zip(messages, sentinels)]
        result = self._formatter(messages=masked)
        rendered: str = result.prompt
        tokens: list[int] = []
        for sentinel, message in zip(sentinels, messages):
            if rendered.count(sentinel) != 1:
                raise ModelError(f"the chat template of {model.file_name} rewrites message contents; "
                                 "they cannot be tokenized apart from the template's markup")
            head, rendered = rendered.split(sentinel)
            tokens += model.tokenize(head, special=True, add_bos=not tokens and not result.added_special)
            tokens += model.tokenize(message["content"], special=False)
        tokens += model.tokenize(rendered, special=True)
        stop = result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
        return tokens, [s for s in stop if s]
