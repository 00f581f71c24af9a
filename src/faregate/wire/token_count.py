"""faregate's own estimate of a request's input tokens, for the token-counting endpoints
(``POST /v1/messages/count_tokens``, and the Responses API's ``input_tokens``) when the
provider has no counting endpoint. Pure data, no I/O.

The estimate is the one the limits step and the router use (``routing.estimate.prompt_tokens``:
characters / 4 + 4 per message), over the messages' text and the tool definitions (which a
provider counts too), with the 3 tokens of the reply's priming. It is an estimate: a provider's
own count (its tokenizer) can differ by tens of percent; answers say which they are.
"""

from __future__ import annotations

import orjson

from ..core.types import ChatRequest

# Kept equal to routing.estimate (wire may not import routing; a test checks they agree).
CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4
REPLY_PRIMING = 3

# The response header that says where a count came from.
SOURCE_HEADER = "x-faregate-token-count-source"


def estimate_input_tokens(req: ChatRequest) -> int:
    """Estimated input tokens of ``req``: its messages' text and its tools' definitions."""
    chars = len(req.prompt_text())
    if req.tools:
        chars += len(orjson.dumps(req.tools))
    return chars // CHARS_PER_TOKEN + TOKENS_PER_MESSAGE * len(req.messages) + REPLY_PRIMING
