"""Progress bars for waiting on jobs and moving bytes (tqdm.auto: terminals and notebooks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from synth.client.resources import Job

JobCallback = Callable[[Job], None]


class JobProgressBar:
    """A 0-100% bar showing the job's phase and the ε it has spent so far."""

    def __init__(self, job_name: str, *, description: str = "", **tqdm_kwargs: Any) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=100,
            desc=description or job_name,
            unit="%",
            bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]",
            **tqdm_kwargs,
        )

    def __call__(self, job: Job) -> None:
        p = job.progress
        self._bar.n = round(100 * min(max(p.fraction, 0.0), 1.0), 1)
        postfix = f"{p.phase or job.state.value.lower()}"
        if p.epsilon_spent:
            postfix += f", ε={p.epsilon_spent:.3g}"
        self._bar.set_postfix_str(postfix, refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> JobProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ByteProgressBar:
    """A bar over bytes moved, for uploads and downloads."""

    def __init__(self, description: str, *, total: int | None = None, **tqdm_kwargs: Any) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=total or None,
            desc=description,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            **tqdm_kwargs,
        )

    def set_total(self, total: int) -> None:
        self._bar.total = total
        self._bar.refresh()

    def __call__(self, n: int) -> None:
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> ByteProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
