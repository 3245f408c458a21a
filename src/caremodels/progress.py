"""Progress and messages on the terminal (rich), for long steps in any package; silenced by --quiet.

Boundaries: writes only to standard error (progress, messages) and standard output (results); never
prints patient-level values, which callers must not pass in.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = ["Reporter"]


class Reporter:
    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet
        self.out = Console(file=sys.stdout, highlight=False, soft_wrap=True)
        self.err = Console(file=sys.stderr, highlight=False)

    def info(self, message: str) -> None:
        if not self.quiet:
            self.err.print(message)

    @contextlib.contextmanager
    def step(self, description: str, total: int | None = None) -> Iterator[Callable[[int, int], None]]:
        """A progress bar (or spinner when ``total`` is unknown). Yields ``update(done, total)``."""
        if self.quiet:
            yield lambda done, total: None
            return
        if not self.err.is_terminal:
            # A bar redrawn into a log file or a pipe is noise: off a terminal, the step is one line.
            self.err.print(description)
            yield lambda done, total: None
            return
        progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.err,
            transient=False,
        )
        with progress:
            task = progress.add_task(description, total=total)

            def update(done: int, new_total: int) -> None:
                progress.update(task, completed=done, total=new_total)

            yield update
            task_total = progress.tasks[0].total
            progress.update(
                task, completed=task_total if task_total is not None else 1, total=task_total or 1
            )
