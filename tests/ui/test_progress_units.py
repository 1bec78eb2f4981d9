"""The progress line with units in parallel workers: the bar counts all units, the text says how many run."""

from desktop_app.core.events import PhaseStarted, Progress, RunStarted, UnitFinished
from desktop_app.ui.progress import ProgressWidget


def test_progress_names_the_running_units(qtbot) -> None:
    w = ProgressWidget()
    qtbot.addWidget(w)
    w.ingest([RunStarted("r", "demo", ("none", "dae"), (0,), "cpu", 200),
              PhaseStarted("none", 0, "finetune", -1, 3), PhaseStarted("dae", 0, "pretrain", 0, 2),
              Progress("dae", 0, "pretrain", 0, 1, 2, 50, 200, 5.0)])
    assert w.phase.text().startswith("2 units running · pre-training layer 1, epoch 1/2 · arm dae")
    assert w.bar.value() == 250 and w.eta.text() == "ETA 0:15"
    w.ingest([UnitFinished("none", 0, "completed"), Progress("dae", 0, "finetune", -1, 1, 3, 150, 200, 10.0)])
    assert w.phase.text() == "fine-tuning epoch 1/3 · arm dae · seed 0"
