"""The inline backend: units one after another in this process (the engine as it always ran)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from desktop_app.core.control import RunControl
from desktop_app.core.events import Event
from desktop_app.core.execution.tasks import UnitTask, in_tasks, run_task


class InlineExecutor:
    """Runs each unit in the calling process, reusing the data the engine already loaded."""

    name = "inline"

    def __init__(self, data=None) -> None:
        self.data = data

    def describe(self, n_units: int, n_tasks: int) -> str:
        return f"{n_units} unit(s){in_tasks(n_units, n_tasks)} one after another in this process"

    def run(self, tasks: Sequence[UnitTask], control: RunControl) -> Iterator[Event]:
        for task in tasks:
            if control.stopped:
                return
            yield from run_task(task, control, self.data)
