"""Progress display: rich bars for units and epochs, or one line per unit, or nothing."""

from __future__ import annotations

import sys
import threading
from typing import Any

from brainbench.runner._units import Unit


class RichProgress:
    """A bar for all units and one transient bar per running unit (its epochs)."""

    def __init__(self, total: int, *, max_epochs: int | None = None, console: Any = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
            console=self.console,
            transient=False,
        )
        self.max_epochs = max_epochs
        self.failed = 0
        self._lock = threading.Lock()
        self.overall = self.progress.add_task("units", total=total, status="")

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def start_unit(self, unit: Unit) -> Any:
        with self._lock:
            return self.progress.add_task(
                f"  {unit.id}", total=self.max_epochs, status="", visible=True
            )

    def epoch(self, task_id: Any, epoch: int, loss: float, val: float | None) -> None:
        status = f"loss {loss:.3f}" + (f" val {val:.3f}" if val is not None else "")
        self.progress.update(task_id, completed=epoch, status=status)

    def end_unit(self, task_id: Any, record: dict[str, Any]) -> None:
        with self._lock:
            if task_id is not None:
                self.progress.remove_task(task_id)
            ok = record["status"] == "ok"
            if not ok:
                self.failed += 1
                self.console.print(
                    f"[red]failed[/red] {record['id']}: {record['error']} ({record['log']})"
                )
            status = f"[red]{self.failed} failed[/red]" if self.failed else ""
            self.progress.update(self.overall, advance=1, status=status)


class LineProgress:
    """One line per finished unit (non-interactive output), or only failures when quiet."""

    def __init__(self, total: int, *, quiet: bool = False) -> None:
        self.total = total
        self.done = 0
        self.quiet = quiet
        self._lock = threading.Lock()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def start_unit(self, unit: Unit) -> Any:
        return unit.id

    def epoch(self, task_id: Any, epoch: int, loss: float, val: float | None) -> None:
        pass

    def end_unit(self, task_id: Any, record: dict[str, Any]) -> None:
        with self._lock:
            self.done += 1
            if record["status"] != "ok":
                print(
                    f"failed {record['id']}: {record['error']} ({record['log']})",
                    file=sys.stderr,
                    flush=True,
                )
            elif not self.quiet:
                print(
                    f"[{self.done}/{self.total}] {record['id']} ok ({record['seconds']:.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )


def make_progress(total: int, *, quiet: bool, max_epochs: int | None = None) -> Any:
    if quiet:
        return LineProgress(total, quiet=True)
    if sys.stderr.isatty():
        return RichProgress(total, max_epochs=max_epochs)
    return LineProgress(total)


__all__ = ["LineProgress", "RichProgress", "make_progress"]
