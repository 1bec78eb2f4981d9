"""RunHistory, the Runs pane: the workspace's runs as a hyperparameter table (docs/ARCHITECTURE.md, "Runs table").

Per run: its name, a column per config field that differs across the listed runs and can matter (new keys appear
as runs load), the final test error per arm with its 95 % interval, status, seeds, wall time, date, tags and note;
fields that differ but cannot matter are hidden columns. Sort by any column, filter by text and status; drag a
header to reorder, and its context menu shows / hides columns and pins one to the left.
Actions: Open, Resume, Compare (two or more runs: ``compare_requested``),
Diff (two runs, or one run and the builder's config), Load into builder, Tags and note, Delete (to the trash,
after a confirmation), Show folder, Copy CLI command.

The table loads in a background ``workers.background.Task`` injected as ``task_factory`` (manifests first, then
each run's config, metrics and notes), so thousands of runs list without a frozen window; without a factory it
loads inline (``ui/task_protocol.InlineTask``). A folder that cannot be read is a row with status "unreadable"
and its one-line problem; it cannot be opened, resumed or compared. A run another process writes cannot be
resumed or deleted.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from PySide6.QtCore import QItemSelection, QItemSelectionModel, QModelIndex, QPoint, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.config import ConfigError, ExperimentConfig
from desktop_app.core.lab.run_table import ERROR_NOTE, STATUSES, DetailsLoaded, InfosLoaded, RunRow, load
from desktop_app.core.runfolder import RunFolder, RunFolderError, RunInfo, read_config
from desktop_app.core.runfolder.notes import parse_tags, write_notes
from desktop_app.core.runfolder.trash import trash_run
from desktop_app.ui.elided_label import ElidedLabel
from desktop_app.ui.exports import copy_reproduce_command
from desktop_app.ui.run_dialogs import ConfigDiffDialog, NotesDialog
from desktop_app.ui.run_table_model import RunFilterProxy, RunTableModel
from desktop_app.ui.tables import fit_columns, row_view
from desktop_app.ui.task_protocol import InlineTask, TaskFactory, TaskLike

RESUMABLE = ("stopped", "failed", "running")  # "running" = the app died mid-run
REFRESH_KEY, OPEN_KEYS, DELETE_KEY = "F5", ("Return", "Enter"), QKeySequence.StandardKey.Delete
KEYS = (("F5", "list the workspace again"), ("Enter", "open the selected run"),
        ("Delete", "move the selected runs to the trash"))  # what Help > Keyboard shortcuts lists for this pane
ANY_STATUS = "Any status"


class RunHistory(QWidget):
    """Signals: ``openRequested(Path)`` (double-click or Open), ``resumeRequested(Path)``,
    ``compare_requested(list[Path])`` (Compare on two or more selected readable runs),
    ``load_config_requested(ExperimentConfig)`` (Load into builder), ``loaded()`` (a load has ended)."""

    openRequested = Signal(object)
    resumeRequested = Signal(object)
    compare_requested = Signal(list)
    load_config_requested = Signal(object)
    loaded = Signal()

    def __init__(self, workspace: Path, parent: QWidget | None = None,
                 task_factory: TaskFactory | None = None) -> None:
        super().__init__(parent)
        self._workspace = Path(workspace)
        self._task_factory: TaskFactory = task_factory or InlineTask
        self._busy_dirs: set[str] = set()
        self._task: TaskLike | None = None
        self._stopping: list[TaskLike] = []  # replaced loads, told to stop; waited for by shutdown()
        self._shut = False  # shutdown() was called: no load starts any more (a run ending during a quit)
        self._seen: set[Path] = set()
        self._fitted = False
        self.builder_config = None  # () -> ExperimentConfig: set by the window for "Diff with builder"
        self.last_message_box: QMessageBox | None = None
        self.notes_dialog: NotesDialog | None = None
        self.diff_dialog: ConfigDiffDialog | None = None
        self.context_menu: QMenu | None = None

        self.model = RunTableModel(self)
        self.proxy = RunFilterProxy(self.model, self)
        self.table = row_view(multi=True)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 5)  # 15+ rows shown
        self.table.setModel(self.proxy)
        # a long cell keeps its end: namesakes differ there ("reproduce-output-variance (base=1)" in 200 px)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.sortByColumn(self.model.column_index("Date"), Qt.SortOrder.DescendingOrder)  # newest first
        self.table.doubleClicked.connect(self._on_double_click)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        # the selected runs in the order they were picked: Compare hands them on so, and its first is the reference
        # of every paired difference (a user who picked 1,000 labels, then 10,000, got 10,000 as the reference)
        self._picked: list[Path] = []
        self.table.selectionModel().selectionChanged.connect(self._track_picks)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._show_context_menu)
        self.model.columnsInserted.connect(self._fit_later)
        # columns: drag a header to reorder; its context menu hides / shows columns and pins one to the left
        self._shown: dict[tuple[str, str], bool] = {}  # the user's choice per column (kind, key); else its default
        self._pinned: list[tuple[str, str]] = []  # pinned columns, left to right, kept first whatever is inserted
        self.column_menu: QMenu | None = None
        header = self.table.horizontalHeader()
        header.setSectionsMovable(True)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._show_column_menu)
        header.setToolTip("Drag a column header to move it; right-click for the columns to show, hide or pin")
        self.model.columnsInserted.connect(lambda *_: self._apply_columns())
        self.model.modelReset.connect(self._apply_columns)

        self.workspace_label = ElidedLabel()  # a long path never widens the window
        self.workspace_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter: words, field=value (lr=0.05 units=25 kind=online)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setToolTip(
            "Show only the runs that match everything typed:\n"
            "  a word: appears in some column, the note or the description ('wide');\n"
            "  field=value: a config field by its dotted name or its column's title (seeds.base=1, lr=0.05,\n"
            "  units=25, kind=online) or a column (status=stopped, tags=best); numbers compare as numbers.")
        self.filter_hint = QLabel()  # a term naming no field: said here, not a silently empty table
        self.filter_hint.setObjectName("filterHint")
        self.filter_hint.setStyleSheet("color: #b35c00;")
        self.filter_hint.setWordWrap(True)
        self.filter_hint.hide()
        self.filter_edit.textChanged.connect(lambda text: self._apply_filter())
        self.status_combo = QComboBox()
        self.status_combo.addItems([ANY_STATUS, *STATUSES])
        self.status_combo.setToolTip("Show only runs with this status")
        self.status_combo.currentTextChanged.connect(lambda text: self._apply_filter())

        def button(text: str, tip: str, slot) -> QPushButton:
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            return b

        self.open_button = button("Open", "Replay the selected run into the panels", self._open_selected)
        self.resume_button = button("Resume", "Continue the selected stopped run from its last checkpoint",
                                    self._resume_selected)
        self.compare_button = button("Compare", "Show the selected runs together in the panels (select two or more)",
                                     self._compare_selected)
        self.diff_button = button("Diff", "The config fields that differ between the two selected runs, or between "
                                  "the selected run and the builder", self.show_diff)
        self.load_button = button("Load into builder", "Start the builder from the selected run's config",
                                  self.load_into_builder)
        self.notes_button = button("Tags…", "Edit the selected run's tags and note (stored in its folder)",
                                   self.edit_notes)
        self.delete_button = button("Delete…", "Move the selected runs' folders to the system trash",
                                    self.delete_selected)
        self.folder_button = button("Show folder", "Open the run folder in the file manager", self._show_folder)
        self.refresh_button = button("Refresh", "List the workspace again (F5)", self.refresh)
        QShortcut(QKeySequence(REFRESH_KEY), self, self.refresh, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        QShortcut(QKeySequence(DELETE_KEY), self.table, self.delete_selected, context=Qt.ShortcutContext.WidgetShortcut)
        for key in OPEN_KEYS:  # the keyboard's double-click
            QShortcut(QKeySequence(key), self.table, self._open_from_keyboard,
                      context=Qt.ShortcutContext.WidgetShortcut)

        top = QHBoxLayout()
        top.addWidget(self.workspace_label, 1)
        top.addWidget(self.filter_edit, 2)
        top.addWidget(self.status_combo)
        top.addWidget(self.refresh_button)
        bar = QHBoxLayout()
        for b in (self.open_button, self.resume_button, self.compare_button, self.diff_button, self.load_button,
                  self.notes_button, self.delete_button, self.folder_button):
            bar.addWidget(b)
        bar.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.filter_hint)
        layout.addLayout(bar)
        layout.addWidget(self.table)
        self.error_note = QLabel(ERROR_NOTE)  # what the test error columns' ± is (`basin runs --table` says it too)
        self.error_note.setStyleSheet("color: #555;")
        self.error_note.setWordWrap(True)
        self.error_note.hide()
        layout.addWidget(self.error_note)
        self.refresh()

    # -- workspace and loading --------------------------------------------------------------------------
    @property
    def workspace(self) -> Path:
        return self._workspace

    @property
    def loading(self) -> bool:
        return self._task is not None and not self._task.done

    def set_workspace(self, path: Path) -> None:
        if Path(path) != self._workspace:
            self._stop_task()
            self.model.reset()
            self._fitted = False
        self._workspace = Path(path)
        self.refresh()

    def set_busy_runs(self, run_dirs: set[str]) -> None:
        """Run folders being written now (they cannot be resumed or deleted)."""
        self._busy_dirs = set(run_dirs)
        self._update_buttons()

    def refresh(self) -> None:
        """List the workspace again in the background; rows already shown stay (and keep their selection) and are
        updated in place, rows whose folder is gone are dropped when the load ends."""
        self._start_load(None)

    def refresh_runs(self, run_dirs: list[Path]) -> None:
        """Read just these runs again (a run started or ended), in the background."""
        self._start_load([Path(p) for p in run_dirs])

    def _start_load(self, dirs: list[Path] | None) -> None:
        if self._shut:
            return
        if self._task is not None and not self._task.done:
            if dirs is not None:  # a full load is running: it reads these too (or a later refresh will)
                dirs = None
            self._stop_task()
        self._seen = set()
        task = self._task_factory(partial(self._load_fn, self._workspace, dirs), name="runs-table")
        task.items.connect(self._on_items)
        task.ended.connect(partial(self._on_ended, task, dirs is None))
        self._task = task
        self._update_label()
        task.start()

    @staticmethod
    def _load_fn(workspace: Path, dirs: list[Path] | None, control):
        return load(workspace, control, dirs)

    def _stop_task(self) -> None:
        task, self._task = self._task, None
        self._stopping = [t for t in self._stopping if not t.done]
        if task is not None and not task.done:
            task.items.disconnect(self._on_items)
            task.stop()
            self._stopping.append(task)

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Stop loading and wait for the load threads (the window calls this on close); no load starts after it."""
        self._shut = True
        self._stop_task()
        ok = all(t.wait(timeout_ms) for t in self._stopping)
        self._stopping = []
        return ok

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(event)

    def wait_loaded(self, timeout_ms: int = 30_000) -> bool:
        """Block until the load has ended and its rows are in (tests, and a caller that needs the list now)."""
        return self._task is None or self._task.wait(timeout_ms)

    @Slot(object)
    def _on_items(self, items: list) -> None:
        for batch in items:
            if isinstance(batch, InfosLoaded):
                self._seen.update(info.path for info in batch.infos)
                self.model.add_infos(batch.infos)
                if not self._fitted:
                    self._fitted = True
                    fit_columns(self.table)
            elif isinstance(batch, DetailsLoaded):
                self.model.add_details(batch.details)
        self._update_label()
        self._update_buttons()

    def _on_ended(self, task: TaskLike, full: bool) -> None:
        if task is not self._task:
            return
        if full and not task.stopped and task.error is None:
            gone = [r.path for r in self.model.table.rows if r.path not in self._seen]
            self.model.remove_paths(gone)
        self._update_label()
        self._update_buttons()
        self.loaded.emit()

    def _fit_later(self, _parent, first: int, last: int) -> None:
        """Size just the inserted columns (sizing all of them on every insert froze the window for ~0.3 s)."""
        if self._fitted:
            fit_columns(self.table, columns=range(first, last + 1))

    # -- columns: chooser, order, pins ---------------------------------------------------------------------
    def _ident(self, col: int) -> tuple[str, str]:
        c = self.model.column(col)
        return (c.kind, c.key)

    def column_shown(self, title: str) -> bool:
        i = self.model.column_index(title)
        return i >= 0 and not self.table.isColumnHidden(i)

    def set_column_shown(self, title: str, shown: bool) -> None:
        """Show or hide the column titled ``title`` (the column chooser); the choice holds while runs load."""
        i = self.model.column_index(title)
        if i >= 0:
            self._shown[self._ident(i)] = shown
            self._apply_columns()

    def pin_column(self, title: str, pinned: bool = True) -> None:
        """Keep the column titled ``title`` at the left, after the columns pinned before it (unpin: it stays where
        it is, no longer kept there)."""
        i = self.model.column_index(title)
        if i < 0:
            return
        ident = self._ident(i)
        if ident in self._pinned:
            self._pinned.remove(ident)
        if pinned:
            self._pinned.append(ident)
            self._shown[ident] = True
        self._apply_columns()

    def pinned_columns(self) -> list[str]:
        titles = {self._ident(i): self.model.column(i).title for i in range(self.model.columnCount())}
        return [titles[p] for p in self._pinned if p in titles]

    def visual_titles(self) -> list[str]:
        """The shown columns' titles in the order the view shows them."""
        header = self.table.horizontalHeader()
        order = sorted(range(self.model.columnCount()), key=header.visualIndex)
        return [self.model.column(i).title for i in order if not self.table.isColumnHidden(i)]

    def _apply_columns(self) -> None:
        header = self.table.horizontalHeader()
        for i in range(self.model.columnCount()):
            ident = self._ident(i)
            self.table.setColumnHidden(i, not self._shown.get(ident, not self.model.column(i).hidden))
        logical = {self._ident(i): i for i in range(self.model.columnCount())}
        for place, ident in enumerate(p for p in self._pinned if p in logical):
            header.moveSection(header.visualIndex(logical[ident]), place)

    def _show_column_menu(self, pos: QPoint) -> None:
        header = self.table.horizontalHeader()
        clicked = header.logicalIndexAt(pos)
        menu = QMenu(self)
        if clicked >= 0:
            title = self.model.column(clicked).title
            pinned = self._ident(clicked) in self._pinned
            menu.addAction(f"Unpin '{title}'" if pinned else f"Pin '{title}' to the left",
                           partial(self.pin_column, title, not pinned))
            if title != "Name":
                menu.addAction(f"Hide '{title}'", partial(self.set_column_shown, title, False))
            menu.addSeparator()
        columns = menu.addMenu("Columns")
        for i in sorted(range(self.model.columnCount()), key=header.visualIndex):
            col = self.model.column(i)
            action = columns.addAction(col.title + ("  (cannot matter)" if col.hidden else ""))
            action.setCheckable(True)
            action.setChecked(not self.table.isColumnHidden(i))
            action.setToolTip(col.tip)
            action.toggled.connect(partial(self.set_column_shown, col.title))
        menu.addAction("Default columns", self.reset_columns)
        self.column_menu = menu
        menu.popup(header.mapToGlobal(pos))

    def reset_columns(self) -> None:
        """Columns as they start: the model's order, fields that cannot matter hidden, nothing pinned."""
        self._shown.clear()
        self._pinned.clear()
        header = self.table.horizontalHeader()
        for i in range(self.model.columnCount()):
            header.moveSection(header.visualIndex(i), i)
        self._apply_columns()

    def _update_label(self) -> None:
        n, shown = len(self.model.table.rows), self.proxy.rowCount()
        text = f"Workspace: {self._workspace}  ({n} run{'' if n == 1 else 's'}" + \
            (f", {shown} shown" if shown != n else "") + ")"
        if self.loading:
            loaded = sum(r.details is not None or not r.info.readable for r in self.model.table.rows)
            text += f"  loading {loaded}/{n}…"
        self.workspace_label.setText(text)
        hint = self.model.table.filter_hint(self.filter_edit.text())
        self.filter_hint.setText(f"Filter: {hint}" if hint else "")
        self.filter_hint.setVisible(bool(hint))
        self.error_note.setVisible(any(c.kind == "error" for c in self.model.table.columns))

    # -- filter ----------------------------------------------------------------------------------------
    def set_filter(self, text: str = "", status: str | None = None) -> None:
        self.filter_edit.setText(text)
        self.status_combo.setCurrentText(status or ANY_STATUS)

    def _apply_filter(self) -> None:
        status = self.status_combo.currentText()
        self.proxy.set_filter(self.filter_edit.text(), None if status == ANY_STATUS else [status])
        self._update_label()
        self._update_buttons()

    # -- rows ------------------------------------------------------------------------------------------
    def runs(self) -> list[RunInfo]:
        """Every listed run (filtered out or not), in load order."""
        return [r.info for r in self.model.table.rows]

    def visible_runs(self) -> list[RunInfo]:
        """The runs the view shows, top to bottom (sorted and filtered)."""
        return [self._row(self.proxy.index(i, 0)).info for i in range(self.proxy.rowCount())]

    def _row(self, proxy_index: QModelIndex) -> RunRow:
        return self.model.table.rows[self.proxy.mapToSource(proxy_index).row()]

    def column_titles(self) -> list[str]:
        return [self.model.column(i).title for i in range(self.model.columnCount())]

    def cell(self, path: Path, title: str) -> str:
        """The text the table shows for a run in the column titled ``title`` ("" if there is no such column)."""
        row, col = self.model.table.row_of(Path(path)), self.model.column_index(title)
        if row is None or col < 0:
            return ""
        return self.model.data(self.model.index(row, col)) or ""

    def tooltip(self, path: Path) -> str:
        row = self.model.table.row_of(Path(path))
        return self.model.table.tooltip(row) if row is not None else ""

    def selected_rows(self) -> list[RunRow]:
        """The selected runs, top to bottom as shown."""
        model = self.table.selectionModel()
        indexes = sorted(model.selectedRows(), key=lambda i: i.row()) if model else []
        return [self._row(i) for i in indexes]

    def selected_runs(self) -> list[RunInfo]:
        return [r.info for r in self.selected_rows()]

    def selected_run(self) -> RunInfo | None:
        """The run Open, Resume and Show folder act on (their buttons need exactly one selected; a double-click
        or the context menu acts on the current row): the current row if selected, else the first selected."""
        rows = self.selected_rows()
        current = self.table.currentIndex()
        if current.isValid() and self.table.selectionModel().isRowSelected(current.row()):
            return self._row(current).info
        return rows[0].info if rows else None

    def selected_run_dirs(self) -> list[Path]:
        """The folders of the selected readable runs in the order they were picked (a shift-click range top to
        bottom): what Compare hands on, its first the reference."""
        order = {p: i for i, p in enumerate(self._picked)}
        runs = sorted(self.selected_runs(), key=lambda info: order.get(info.path, len(order)))
        return [info.path for info in runs if info.readable]

    def _track_picks(self, *_args: object) -> None:
        now = [r.info.path for r in self.selected_rows()]
        kept = set(now)
        self._picked = [p for p in self._picked if p in kept]
        seen = set(self._picked)
        self._picked += [p for p in now if p not in seen]  # newly picked, after those picked before

    def select_path(self, path: Path) -> None:
        self.select_paths([path])

    def select_paths(self, paths: list[Path]) -> None:
        """Select exactly these runs (those listed and not filtered out), picked in this order; the first becomes
        current."""
        selection = QItemSelection()
        first = None
        for p in paths:
            row = self.model.table.row_of(Path(p))
            if row is None:
                continue
            index = self.proxy.mapFromSource(self.model.index(row, 0))
            if index.isValid():
                selection.select(index, index)
                first = first or index
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        self.table.selectionModel().select(selection, flags)
        listed = {r.info.path for r in self.selected_rows()}
        self._picked = [Path(p) for p in paths if Path(p) in listed]  # picked in the order given
        if first is not None:
            self.table.selectionModel().setCurrentIndex(first, QItemSelectionModel.SelectionFlag.NoUpdate)
            self.table.scrollTo(first)
        self._update_buttons()

    def _writing(self, info: RunInfo) -> bool:
        return bool(info.writer) or str(info.path) in self._busy_dirs

    def _update_buttons(self, *_args) -> None:
        info = self.selected_run()
        runs = self.selected_runs()
        readable = [r for r in runs if r.readable]
        one = info if len(runs) == 1 else None  # with several selected, which one Open would act on is unclear
        self.open_button.setEnabled(one is not None and one.readable)
        self.folder_button.setEnabled(one is not None)
        self.resume_button.setEnabled(
            one is not None and one.readable and not self._writing(one) and one.status in RESUMABLE)
        self.compare_button.setEnabled(len(readable) >= 2)
        self.diff_button.setEnabled(len(readable) == 2 or (len(readable) == 1 and self.builder_config is not None))
        self.load_button.setEnabled(len(readable) == 1)
        self.notes_button.setEnabled(len(runs) == 1)
        # a lock held elsewhere (info.writer) does not disable Delete: trying says who holds it and which file to
        # remove if that is not Basin (a forged or foreign lock); only this window's own runs must be stopped first
        self.delete_button.setEnabled(bool(runs) and not any(str(r.path) in self._busy_dirs for r in runs))

    # -- actions ---------------------------------------------------------------------------------------
    def _on_double_click(self, index: QModelIndex) -> None:
        info = self._row(index).info
        if info.readable:
            self.openRequested.emit(info.path)

    def _open_from_keyboard(self) -> None:
        if self.open_button.isEnabled():
            self._open_selected()

    def _open_selected(self) -> None:
        info = self.selected_run()
        if info is not None:
            self.openRequested.emit(info.path)

    def _resume_selected(self) -> None:
        info = self.selected_run()
        if info is not None:
            self.resumeRequested.emit(info.path)

    def _compare_selected(self) -> None:
        dirs = self.selected_run_dirs()
        if len(dirs) >= 2:
            self.compare_requested.emit(dirs)

    def show_error(self, title: str, text: str) -> QMessageBox:
        """A window-modal, non-blocking message box (kept in ``last_message_box``)."""
        box = QMessageBox(QMessageBox.Icon.Critical, title, text, QMessageBox.StandardButton.Ok, self)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.open()
        self.last_message_box = box
        return box

    def _read_config(self, path: Path) -> ExperimentConfig | None:
        try:
            return read_config(RunFolder(path))
        except (ConfigError, RunFolderError) as exc:
            self.show_error("Cannot read the run's config", f"{path}\n\n{exc}")
            return None

    def show_diff(self) -> ConfigDiffDialog | None:
        """Diff of the two selected runs' configs, or of the one selected run and the builder's config."""
        runs = [r for r in self.selected_runs() if r.readable]
        if len(runs) == 2:
            a, b = (self._read_config(r.path) for r in runs)
            names = runs[0].path.name, runs[1].path.name
        elif len(runs) == 1 and self.builder_config is not None:
            a, b = self._read_config(runs[0].path), self.builder_config()
            names = runs[0].path.name, "builder"
        else:
            return None
        if a is None or b is None:
            return None
        self.diff_dialog = ConfigDiffDialog(a, b, *names, parent=self)
        self.diff_dialog.show()
        return self.diff_dialog

    def load_into_builder(self) -> None:
        runs = [r for r in self.selected_runs() if r.readable]
        if len(runs) == 1:
            cfg = self._read_config(runs[0].path)
            if cfg is not None:
                self.load_config_requested.emit(cfg)

    def edit_notes(self) -> NotesDialog | None:
        """Open the tags-and-note editor of the selected run; Save writes them into its folder."""
        rows = self.selected_rows()
        if len(rows) != 1:
            return None
        row = rows[0]
        dialog = NotesDialog(row.info.name, row.notes, self)
        dialog.accepted.connect(partial(self._save_notes, row.path, dialog))
        self.notes_dialog = dialog
        dialog.open()
        return dialog

    def _save_notes(self, path: Path, dialog: NotesDialog) -> None:
        tags, note = dialog.values()
        try:
            notes = write_notes(RunFolder(path), parse_tags(tags), note)
        except (RunFolderError, ConfigError, OSError) as exc:
            self.show_error("Cannot save tags and note", f"{path}\n\n{exc}")
            return
        self.model.table.set_notes(path, notes)
        self.model.notes_changed(path)
        tags = [i for i, c in enumerate(self.model.table.columns) if c.kind == "tags"]
        if tags:  # new tags are shown whole, not as "baseli…" (columns are sized on request only)
            fit_columns(self.table, columns=range(tags[0], tags[0] + 1))

    def confirm_delete(self, runs: list[RunInfo]) -> bool:
        """Ask before moving run folders to the trash (tests replace this)."""
        names = "\n".join(r.path.name for r in runs[:10]) + ("\n…" if len(runs) > 10 else "")
        answer = QMessageBox.question(
            self, "Delete runs", f"Move {len(runs)} run folder{'s' if len(runs) != 1 else ''} to the trash?\n\n"
            f"{names}", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def delete_selected(self) -> list[Path]:
        """Move the selected runs to the system trash after a confirmation; a run being written is refused.
        Returns the folders moved."""
        runs = self.selected_runs()
        if not runs:
            return []
        busy = [r for r in runs if str(r.path) in self._busy_dirs]
        if busy:
            self.show_error("Cannot delete", f"{busy[0].path}\n\nis being written by a run; stop it first")
            return []
        if not self.confirm_delete(runs):
            return []
        moved, problems = [], []
        for info in runs:
            try:
                trash_run(info.path, self._workspace)
                moved.append(info.path)
            except RunFolderError as exc:
                problems.append(str(exc))
        self.model.remove_paths(moved)
        self._update_label()
        self._update_buttons()
        if problems:
            self.show_error("Cannot delete", "\n".join(problems[:10]))
        return moved

    def copy_command(self) -> str:
        """Put the selected run's `basin run` reproduce command on the clipboard; returns it."""
        info = self.selected_run()
        return copy_reproduce_command(info.path) if info is not None else ""

    def build_context_menu(self) -> QMenu:
        """The pane's actions for the selection (each enabled as its button is)."""
        menu = QMenu(self)
        for text, slot, button in (("Open", self._open_selected, self.open_button),
                                   ("Resume", self._resume_selected, self.resume_button),
                                   ("Copy CLI command", self.copy_command, self.folder_button),
                                   ("Show folder", self._show_folder, self.folder_button),
                                   ("Compare", self._compare_selected, self.compare_button),
                                   ("Diff", self.show_diff, self.diff_button),
                                   ("Load into builder", self.load_into_builder, self.load_button),
                                   ("Tags and note…", self.edit_notes, self.notes_button),
                                   ("Delete…", self.delete_selected, self.delete_button)):
            action = menu.addAction(text)
            action.triggered.connect(slot)
            action.setEnabled(button.isEnabled())
        menu.actions()[2].setToolTip("Copy the `basin run` command that repeats this run headless")
        self.context_menu = menu
        return menu

    def _show_context_menu(self, pos: QPoint) -> None:
        index = self.table.indexAt(pos)
        if index.isValid() and not self.table.selectionModel().isRowSelected(index.row()):
            self.table.selectRow(index.row())  # a right-click inside a multi-selection keeps it (for Compare)
        if self.selected_run() is not None:
            self.build_context_menu().popup(self.table.viewport().mapToGlobal(pos))

    def _show_folder(self) -> None:
        info = self.selected_run()
        if info is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(info.path)))
