"""Loading a model without the libraries' chatter on the user's terminal.

``transformers`` draws a "Loading weights" progress bar for every model it loads, and
``transformers``/``peft`` warn about their own deprecated internals when a LoRA adapter is merged
(``is_gradient_checkpointing``). Neither says anything about the user's run; both interleave
with ``embodied run``'s live line and ``embodied eval``'s progress bar. Errors still raise, and
warnings from anywhere else still show.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Within the block: no transformers progress bars, no FutureWarnings from transformers or peft."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft)(\.|$)")
            yield
    finally:
        if shown:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
