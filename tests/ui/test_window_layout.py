"""The window a new user meets (issue 15): the panels get the height, the builder is never clipped, the
secondary docks are one click away, View > Reset layout and the remembered layout work, and the window opens on
Filters (or the last panel looked at), never on an analysis with no result. Checked at 1400x900 and 1280x800."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QLabel, QLineEdit, QScrollArea

from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.panel_names import PANEL_NAMES
from tests.ui.fakes import FakeController

SIZES = [(1400, 900), (1280, 800)]


def _window(qtbot, size: tuple[int, int]) -> MainWindow:
    window = MainWindow(FakeController())
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    qtbot.wait(50)
    return window


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_panels_get_the_height_and_fit_the_width(qtbot, size) -> None:
    window = _window(qtbot, size)
    assert window.width() == size[0] and window.height() == size[1]  # nothing forces the window wider
    for name in ("Filters", "Error surface", "Summary"):
        assert window.show_panel(name)
        qtbot.wait(20)
        panel = window.panel_widgets[name]
        assert panel.isVisible() and window.current_panel() == name
        assert panel.height() >= 0.6 * window.height(), (name, panel.height())
        assert panel.width() >= window.width() - window.builder_dock.width() - 20


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_builder_controls_inside_the_viewport(qtbot, size) -> None:
    window = _window(qtbot, size)
    scroll = window.builder.findChild(QScrollArea)
    viewport = scroll.viewport()
    body = scroll.widget()
    assert body.width() <= viewport.width()  # no horizontal clipping (its scroll bar is off)
    kinds = (QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit, QLabel)
    checked = 0
    for widget in body.findChildren(kinds[0]) + [w for k in kinds[1:] for w in body.findChildren(k)]:
        if not widget.isVisibleTo(body):
            continue
        rect = QRect(widget.mapTo(viewport, QPoint(0, 0)), widget.size())
        assert rect.left() >= 0 and rect.right() < viewport.width(), (type(widget).__name__, widget.objectName(),
                                                                       getattr(widget, "text", lambda: "")(), rect)
        if isinstance(widget, QAbstractButton) and widget.text():
            assert widget.width() >= widget.minimumSizeHint().width()  # its label is not cut off
        checked += 1
    assert checked > 30
    assert scroll.verticalScrollBar().isVisible()  # the form scrolls vertically instead


def test_secondary_docks_tabbed_one_click_away(qtbot) -> None:
    window = _window(qtbot, SIZES[0])
    docks = window.secondary_docks
    assert [d.windowTitle() for d in docks] == ["Live metrics", "Runs", "Checkpoints", "Log"]
    for dock in docks[1:]:
        assert dock in window.tabifiedDockWidgets(docks[0])
    shown = [d.windowTitle() for d in docks if not d.widget().visibleRegion().isEmpty()]
    assert shown == ["Live metrics"]  # one tab open, the others one click away
    window.history_dock.raise_()
    qtbot.wait(10)
    assert [d.windowTitle() for d in docks if not d.widget().visibleRegion().isEmpty()] == ["Runs"]


def test_reset_layout_restores_the_default(qtbot) -> None:
    window = _window(qtbot, SIZES[1])
    panel = window.panel_widgets["Filters"]
    default_height = panel.height()
    window.log_dock.setFloating(True)
    window.history_dock.hide()
    window.resizeDocks([window.live_dock], [420], Qt.Orientation.Vertical)
    window.show_panel("Curves")
    qtbot.wait(20)
    assert panel.height() < default_height or not panel.isVisible()
    window.reset_layout()
    qtbot.wait(50)
    assert not window.log_dock.isFloating() and window.history_dock.isVisibleTo(window)
    assert window.current_panel() == "Filters"
    assert abs(panel.height() - default_height) <= 4
    assert window.reset_layout_action in window.view_menu.actions()


def test_layout_and_last_panel_are_remembered(qtbot) -> None:
    window = _window(qtbot, SIZES[0])
    window.show_panel("Curves")
    window.history_dock.raise_()
    qtbot.wait(10)
    window.close()
    again = _window(qtbot, SIZES[0])
    assert again.current_panel() == "Curves"
    assert not again.history.visibleRegion().isEmpty()
    again.show_panel("Error surface")  # an analysis with no result: the next start opens on Filters
    qtbot.wait(10)
    again.close()
    third = _window(qtbot, SIZES[0])
    assert third.current_panel() == "Filters"


def test_a_sweep_shows_its_runs_before_start(qtbot) -> None:
    """A preset that runs 3 widths says so before Start, and Start says how many runs it makes (issue 15)."""
    window = _window(qtbot, SIZES[0])
    assert window.load_preset("reproduce-width")
    assert window.start_action.text() == "Start 3 runs"
    assert window.sweep_label.text().strip() == "Sweep model.width: 25, 50, 500"
    assert window.load_preset("quick-demo")
    assert window.start_action.text() == "Start" and window.sweep_label.text() == ""


def test_title_and_panel_headers_name_the_run(qtbot, tmp_path) -> None:
    """Title bar and every panel header: name, start date, live or replayed (issue 15)."""
    import json

    from desktop_app.ui.run_title import run_date
    from tests.ui import test_panels_data as syn

    window = _window(qtbot, SIZES[0])
    assert window.windowTitle() == "Basin"
    folder = tmp_path / "20260102-030405-demo"
    window.store.ingest(syn.events(str(folder)), replayed=True)
    assert window.windowTitle().startswith("Basin — ") and "02 Jan 2026 03:04 · replayed" in window.windowTitle()
    for panel in window.panel_widgets.values():
        assert panel.run_label.text() == window.run_caption()
    named = tmp_path / "by-hand"
    named.mkdir()
    assert run_date(named) == "date unknown"
    (named / "manifest.json").write_text(json.dumps({"created": "2025-05-06T07:08:09"}), encoding="utf-8")
    assert run_date(named) == "06 May 2025 07:08"
    (named / "manifest.json").write_text("{not json", encoding="utf-8")
    assert run_date(named) == "date unknown"


def test_the_builder_shows_and_edits_a_sweep(qtbot) -> None:
    """The sweep is builder rows, not only a toolbar label: a preset's 3 widths are in them, typing values
    makes Start say how many runs, and a value that is not a number is named (issue 15)."""
    from desktop_app.ui.builder.fields import NumberList

    window = _window(qtbot, SIZES[0])
    assert window.load_preset("reproduce-width")
    field, values = window.builder.field_widget("sweep.field"), window.builder.field_widget("sweep.values")
    assert isinstance(values, NumberList) and values.text() == "25, 50, 500"
    assert field.currentText() == "model.width" and field.isVisibleTo(window.builder)
    values.setText("25, 50")
    assert window.builder.config().sweep.values == (25.0, 50.0)
    assert window.start_action.text() == "Start 2 runs"
    values.setText("25, abc")
    assert [e.field for e in window.builder.errors()] == ["sweep.values"]
    assert "abc" in window.builder.errors()[0].message and not window.start_action.isEnabled()
    field.setCurrentText("")
    values.setText("")
    assert window.builder.is_valid() and window.start_action.text() == "Start"


def _text_rects(axis) -> list:
    """The tick labels an axis would draw now, as rectangles in its own coordinates (pyqtgraph's draw specs)."""
    from PySide6.QtGui import QImage, QPainter

    image = QImage(8, 8, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [] if specs is None else [rect for rect, _flags, text in specs[2] if text]


@pytest.fixture(scope="module")
def replay_run(tmp_path_factory):
    from tests.analysis_runs import make_run

    return make_run(tmp_path_factory.mktemp("layout") / "run")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_plot_keeps_its_axis_labels_and_ticks_readable(qtbot, size, replay_run) -> None:
    """Every panel with a real run at the window sizes users get: axis titles inside the plot's view (not
    clipped), tick labels that do not print over each other (issue 15)."""
    import pyqtgraph as pg

    window = _window(qtbot, size)
    window.open_run(replay_run)
    qtbot.waitUntil(lambda: window.store.has_data(), timeout=10_000)
    checked = 0
    for name, panel in window.panel_widgets.items():
        assert window.show_panel(name)
        qtbot.wait(30)
        for view in panel.findChildren(pg.GraphicsView):
            if not view.isVisible():
                continue
            shown = view.mapToScene(view.viewport().rect()).boundingRect()
            for item in view.scene().items():
                if not isinstance(item, pg.AxisItem) or not item.isVisible():
                    continue
                if item.label.isVisible() and item.labelText:
                    rect = item.label.sceneBoundingRect()
                    assert shown.adjusted(-1, -1, 1, 1).contains(rect), (name, item.labelText, rect, shown)
                    checked += 1
                rects = sorted(_text_rects(item), key=lambda r: (r.top(), r.left()))
                for a, b in zip(rects, rects[1:], strict=False):
                    assert not a.adjusted(1, 1, -1, -1).intersects(b), (name, item.orientation, a, b)
    assert checked >= 10


def test_start_up_builds_the_panel_in_view_first_and_the_rest_between_events(qtbot) -> None:
    """Start-up (issue 15): the panel on screen is built at once, the others one per turn of the event loop, so
    the window answers input while they are built; at the end every panel is in its dock, in the docks' order."""
    from PySide6.QtCore import QTimer

    from desktop_app.ui.panel_names import PANEL_NAMES

    window = MainWindow(FakeController(), defer_panels=True)
    qtbot.addWidget(window)
    window.resize(*SIZES[0])
    window.show()
    qtbot.waitExposed(window)
    shown = window.current_panel()
    built_when_called: list[list[str]] = []
    window.build_panels_progressively(lambda: built_when_called.append(list(window.panel_widgets)))
    assert built_when_called == [[shown]] and list(window.panel_widgets) == [shown]
    answered: list[int] = []
    QTimer.singleShot(0, lambda: answered.append(len(window.panel_widgets)))  # an event posted now
    qtbot.waitUntil(lambda: len(window.panel_widgets) == len(PANEL_NAMES), timeout=20_000)
    assert answered and answered[0] < len(PANEL_NAMES)  # handled before the last panel was built
    assert list(window.panel_widgets) == list(PANEL_NAMES)
    for dock in window.panels():
        assert dock.widget() is window.panel_widgets[dock.windowTitle()]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_panel_tabs_show_whole_titles(qtbot, size) -> None:
    """Every panel's tab says its whole name (at 1280x800 they were cut to "Filt…", "Cur…", "Pit…"); a tab bar
    without room scrolls, so the last tab is one arrow away; a tab bar Qt makes later (re-docking) does too."""
    from PySide6.QtWidgets import QTabBar

    window = _window(qtbot, size)
    bars = [b for b in window.panel_area.findChildren(QTabBar) if b.isVisible() and b.count() > 1]
    assert bars
    titles = []
    for bar in bars:
        for i in range(bar.count()):
            text = bar.tabText(i)
            titles.append(text)
            assert bar.tabRect(i).width() >= bar.fontMetrics().horizontalAdvance(text), (text, bar.tabRect(i))
        assert bar.usesScrollButtons()
    assert set(PANEL_NAMES) <= set(titles)
    docks = window.panels()
    window.panel_area.splitDockWidget(docks[0], docks[1], Qt.Orientation.Horizontal)  # a new layout of the area
    window.panel_area.tabifyDockWidget(docks[1], docks[2])
    qtbot.wait(50)
    for bar in window.panel_area.findChildren(QTabBar):
        if bar.isVisible():
            assert bar.elideMode() == Qt.TextElideMode.ElideNone


def test_keyboard_moves_between_panels_and_refreshes_runs(qtbot) -> None:
    """Ctrl+PgDown / Ctrl+PgUp step through the panel tabs (wrapping), as in a browser; F5 in the Runs pane lists
    the workspace again."""
    from PySide6.QtTest import QTest

    window = _window(qtbot, SIZES[1])
    window.activateWindow()
    assert window.show_panel(PANEL_NAMES[0])
    qtbot.wait(20)
    QTest.keyClick(window, Qt.Key.Key_PageDown, Qt.KeyboardModifier.ControlModifier)
    qtbot.wait(20)
    assert window.current_panel() == PANEL_NAMES[1]
    for _ in range(2):
        QTest.keyClick(window, Qt.Key.Key_PageUp, Qt.KeyboardModifier.ControlModifier)
        qtbot.wait(20)
    assert window.current_panel() == PANEL_NAMES[-1]
    history = window.history
    window.history_dock.raise_()
    history.table.setFocus()
    qtbot.wait(20)
    assert history.wait_loaded()
    with qtbot.waitSignal(history.loaded, timeout=10_000):  # a new listing of the workspace
        QTest.keyClick(history.table, Qt.Key.Key_F5)
    assert "(F5)" in history.refresh_button.toolTip()


def test_every_panel_control_says_what_it_does(qtbot) -> None:
    """Each button, box, field and slider of every panel and of the Runs pane has a tooltip ("Contours", the
    surface's colour quantity, Pitfall's "Clear added" and the Runs filter had none)."""
    from PySide6.QtWidgets import QSlider

    window = _window(qtbot, SIZES[0])
    kinds = (QAbstractButton, QComboBox, QLineEdit, QAbstractSpinBox, QSlider)
    compound = (QAbstractSpinBox, QComboBox, QLineEdit)
    missing = []
    for name, panel in [*window.panel_widgets.items(), ("Runs", window.history)]:
        for kind in kinds:
            for widget in panel.findChildren(kind):
                if widget.objectName().startswith("qt_") or isinstance(widget.parent(), compound):
                    continue  # Qt's own parts of a compound widget (a spin box's line edit, a clear button)
                if not widget.toolTip():
                    missing.append((name, type(widget).__name__, getattr(widget, "text", lambda: "")()))
    assert not missing


def _points_under(plot, legend) -> int:
    """How many points along the curves drawn in ``plot`` (sampled between their vertices) lie under ``legend``."""
    import numpy as np
    import pyqtgraph as pg

    from desktop_app.ui.panels.base import dense

    rect, vb = legend.sceneBoundingRect(), plot.getViewBox()
    assert legend.items and rect.width() > 20 and rect.height() > 20
    under = 0
    for item in plot.listDataItems():
        x, y = item.getData()
        if x is None or not len(x):
            continue
        xs, ys = dense(x, y)
        ok = np.isfinite(xs) & np.isfinite(ys)
        under += sum(rect.contains(vb.mapViewToScene(pg.Point(a, b))) for a, b in zip(xs[ok], ys[ok], strict=True))
    return under


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_legends_cover_no_curve(qtbot, size, replay_run) -> None:
    """Curves (fine-tuning and pre-training, linear and log y) and Trajectories: the legend sits where no curve
    runs, with room made for it when the curves reach every corner (the pre-training legend lay over the first
    layer's curve; the trajectories' over where every seed starts)."""
    window = _window(qtbot, size)
    window.open_run(replay_run)
    qtbot.waitUntil(lambda: window.store.has_data(), timeout=10_000)
    curves = window.panel_widgets["Curves"]
    assert window.current_panel() != "Curves"  # drawn while hidden, then shown: placed at its size on screen
    curves.ensure_current()
    window.show_panel("Curves")
    qtbot.wait(50)
    for log_y in (False, True):
        if log_y:
            for key in ("metric", "recon"):
                curves.set_log_y(key, log_y)
            curves.ensure_current()
            qtbot.wait(50)
        for plot, legend in ((curves.plot, curves.legend), (curves.recon_plot, curves.recon_legend)):
            assert _points_under(plot, legend) == 0, (log_y, plot.titleLabel.text)
    trajectories = window.panel_widgets["Trajectories"]
    window.show_panel("Trajectories")
    trajectories.ensure_current()
    qtbot.wait(50)
    assert _points_under(trajectories.plot, trajectories.legend) == 0


def test_keyboard_alone_opens_a_run_exports_a_panel_and_lists_every_shortcut(qtbot, replay_run) -> None:
    """Without the mouse: Ctrl+Shift+R brings the Runs pane to the front with the keyboard in its table, Down and
    Enter open a run (only a double-click did), Ctrl+Shift+X opens the shown panel's Export dialog, and F1 lists
    every shortcut: each menu action's and the Runs pane's own keys (F5 was written only in a tooltip)."""
    from PySide6.QtGui import QKeySequence
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    window = _window(qtbot, SIZES[1])
    window.set_workspace(replay_run.parent)
    window.activateWindow()
    history = window.history
    assert history.wait_loaded()
    qtbot.waitUntil(lambda: history.model.rowCount() >= 1, timeout=10_000)
    ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    QTest.keyClick(window, Qt.Key.Key_R, ctrl_shift)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is history.table, timeout=2000)
    assert not window.history_dock.visibleRegion().isEmpty()
    QTest.keyClick(history.table, Qt.Key.Key_Space)  # select the current row
    QTest.keyClick(history.table, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.store.run_dir == str(replay_run), timeout=10_000)
    assert window.show_panel("Summary")
    qtbot.wait(20)
    QTest.keyClick(window, Qt.Key.Key_X, ctrl_shift)
    panel = window.panel_widgets["Summary"]
    qtbot.waitUntil(lambda: panel.export_dialog is not None and panel.export_dialog.isVisible(), timeout=2000)
    panel.export_dialog.reject()
    QTest.keyClick(window, Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: window.shortcuts_dialog is not None and window.shortcuts_dialog.isVisible(), timeout=2000)
    listed = {keys for keys, _ in window.shortcuts_dialog.rows}
    menus = [a for m in window.menuBar().actions() if m.menu() for a in m.menu().actions()]
    native = QKeySequence.SequenceFormat.NativeText
    with_keys = {a.shortcut().toString(native) for a in menus if not a.shortcut().isEmpty()}
    assert len(with_keys) >= 14 and with_keys <= listed
    assert {"F5", "Enter", "Delete", "Ctrl+PgDown", "Ctrl+R"} <= listed
    window.shortcuts_dialog.close()


@pytest.fixture(scope="module")
def long_label_runs(tmp_path_factory, replay_run):
    """A second run that differs from ``replay_run`` in many fields that matter: its label is long."""
    from tests.analysis_runs import TINY, make_run

    finetune = {**TINY.get("finetune", {}), "lr": 0.033}
    data = {**TINY.get("data", {}), "split_seed": 7}
    model = {**TINY.get("model", {}), "l2": 0.0001, "dropout": 0.1}
    return [replay_run, make_run(tmp_path_factory.mktemp("layout2") / "other-run", finetune=finetune, data=data,
                                 model=model)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_comparison_with_long_labels_stays_inside_every_panel(qtbot, size, long_label_runs, monkeypatch) -> None:
    """Issue 27: runs that differ in many fields (labels of 150+ characters) compared in the real window: the
    Curves and Summary plots and legends stay inside the panel at both sizes, the long labels elided with their
    whole text in the tooltip."""
    import pyqtgraph as pg

    from desktop_app.core.lab import comparison as comparison_mod

    real = comparison_mod.run_label

    def long_label(cfg, fields, fallback=""):
        return real(cfg, fields, fallback) + ", " + ", ".join(f"field_{i}=value_{i}" for i in range(12))

    monkeypatch.setattr(comparison_mod, "run_label", long_label)
    from desktop_app.ui.panels import summary as summary_mod

    real_arm = summary_mod.arm_label  # and arm names as long as a run group's: wider than their place on the axis
    monkeypatch.setattr(summary_mod, "arm_label", lambda arm: f"{real_arm(arm)}, its description in full")
    window = _window(qtbot, size)
    assert window.compare_runs(long_label_runs)
    for name in ("Curves", "Summary", "HParams", "Trajectories"):
        assert window.show_panel(name)
        qtbot.wait(50)
        panel = window.panel_widgets[name]
        panel.ensure_current()
        qtbot.wait(50)
        view = panel.graphics
        if name == "Trajectories":  # its legend sits in the plot: inside the view box, long names elided
            box = panel.plot.vb.sceneBoundingRect()
            rect = panel.legend.sceneBoundingRect()
            assert box.left() - 1 <= rect.left() and rect.right() <= box.right() + 1, (size, rect, box)
            assert any("…" in label.text for _, label in panel.legend.items)
            assert all(len(label.toolTip()) > 150 for _, label in panel.legend.items if "…" in label.text)
            continue
        width = view.viewport().width()
        for item in view.ci.items:
            if item.isVisible():
                assert item.sceneBoundingRect().right() <= width + 1, (name, type(item).__name__, width)
        if name == "HParams":  # its legend names arms (runs are its points and lines): both plots keep room
            plots = [i for i in view.ci.items if isinstance(i, pg.PlotItem)]
            assert len(plots) == 2 and all(p.vb.height() >= 150 and p.vb.width() >= 200 for p in plots), size
            for plot in plots:
                rects = sorted(_text_rects(plot.getAxis("bottom")), key=lambda r: r.left())
                assert not any(a.adjusted(1, 1, -1, -1).intersects(b) for a, b in zip(rects, rects[1:], strict=False))
            continue
        if name == "Summary":  # every run number and arm under both plots (pyqtgraph drops a label leaving the axis)
            for plot in (panel.box_plot, panel.diff_plot):
                axis = plot.getAxis("bottom")
                assert len(_text_rects(axis)) == len(axis._tickLevels[0]), (size, axis._tickLevels[0])
        legend = panel.compare_legend
        assert any("…" in label.text for _, label in legend.items), name
        assert any(len(label.toolTip()) > 150 for _, label in legend.items if "…" in label.text)  # a run's label
        assert all(len(label.toolTip()) > len(label.text) for _, label in legend.items if "…" in label.text)
        plots = [i for i in view.ci.items if isinstance(i, pg.PlotItem) and i.isVisible()]
        assert plots and all(p.vb.height() >= 100 for p in plots), (name, [p.vb.height() for p in plots])


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_runs_tab_shows_fifteen_rows_and_gives_the_height_back(qtbot, size, tmp_path) -> None:
    """Issue 27: the Runs pane showed two rows at both sizes. Brought to the front (View > Runs pane, or its tab)
    its table shows at least 15 rows; opening a run from it, or another tab in front, gives the panels their height
    back."""
    from bench.run_table import write_run

    for i in range(20):  # a study's many differing fields: the table scrolls sideways (its bar takes a row's height)
        write_run(tmp_path, f"run{i:02d}", {"finetune": {"lr": 0.01 * (i + 1), "epochs": 5 + i, "batch_size": 10 + i},
                                             "model": {"dropout": 0.01 * i, "l2": 1e-5 * (i + 1)},
                                             "data": {"split_seed": i, "n_valid": 300 + i}, "seeds": {"base": i}})
    window = _window(qtbot, size)
    window.set_workspace(tmp_path)
    assert window.history.wait_loaded()
    panels_before = window.panel_widgets["Filters"].height()
    window.show_runs_pane()
    qtbot.wait(50)
    table = window.history.table
    assert table.horizontalScrollBar().isVisible()
    rows = table.viewport().height() / table.verticalHeader().defaultSectionSize()
    assert 15 <= rows <= 17, (rows, window.history_dock.height())  # and no more: the panels keep the rest
    assert window.width() == size[0] and window.height() == size[1]
    window.live_dock.raise_()
    qtbot.wait(50)
    assert abs(window.panel_widgets["Filters"].height() - panels_before) <= 2


def test_the_first_screen_says_press_start(qtbot) -> None:
    """Issue 27: nothing on the first screen said what to do next."""
    window = _window(qtbot, SIZES[1])
    assert "Press Start" in window.builder.message.text() and window.builder.message.isVisible()


def test_headers_say_how_a_live_run_ended(qtbot, tmp_path) -> None:
    """Issue 27: the title and panel headers kept "· live" after the run had ended."""
    from tests.ui import test_panels_data as syn

    window = _window(qtbot, SIZES[0])
    events = syn.events(str(tmp_path / "20260102-030405-demo"))
    window.store.ingest(events[:-1])
    assert window.run_caption().endswith("· live")
    window.store.ingest(events[-1:])  # RunFinished("completed")
    qtbot.wait(20)
    assert window.run_caption().endswith("· completed") and window.windowTitle().endswith("· completed")
    for panel in window.panel_widgets.values():
        assert panel.run_label.text() == window.run_caption()


def _surface(lo: float, hi: float):
    """A 21 x 21 loss bowl from ``lo`` at the centre to ``hi`` at the corners (error: loss / 3, clipped)."""
    import numpy as np

    from desktop_app.core.results import LandscapeResult

    xs = ys = np.linspace(-1.0, 1.0, 21)
    x, y = np.meshgrid(xs, ys)
    loss = lo + (hi - lo) * (x**2 + y**2) / 2
    return LandscapeResult(xs, ys, loss, np.clip(loss / 3, 0, 1), np.zeros((0, 2)), np.zeros(0, dtype=int),
                           np.full(2, np.nan), "random", "dae", 0, 10, "train", 500)


def _round(values: list[float], log: bool) -> bool:
    """1-2-5 values: evenly spaced by 1, 2 or 5 times a power of ten and multiples of that step, or (on a log
    scale over a decade or more) each 1, 2 or 5 times a power of ten."""
    import math

    def mantissa(v: float) -> float:
        return v / 10 ** math.floor(math.log10(v) + 1e-9)

    if log and all(min(abs(mantissa(v) - m) for m in (1, 2, 5)) < 1e-6 for v in values):
        return True
    steps = {round(b - a, 9) for a, b in zip(values, values[1:], strict=False)}
    if len(steps) != 1:
        return False
    step = steps.pop()
    return min(abs(mantissa(step) - m) for m in (1, 2, 5)) < 1e-6 and all(
        abs(v / step - round(v / step)) < 1e-6 for v in values)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_error_surface_takes_the_height_with_a_readable_colour_bar(qtbot, size) -> None:
    """Issue 27: at 1280x800 the error surface was about 180 px tall (its controls above it took the height), its
    colour bar's label ran into the tick labels and the ticks fell on odd values (0.846, 0.624). The plot now takes
    the panel's height (controls beside it: the 1:1 surface has width to spare), the ticks are 1-2-5 values and
    the label sits beside them, inside the bar's height, for every colour setting."""
    from PySide6.QtGui import QImage, QPainter

    window = _window(qtbot, size)
    assert window.show_panel("Error surface")
    panel = window.panel_widgets["Error surface"]
    view = panel.graphics
    shown = view.mapToScene(view.viewport().rect()).boundingRect().adjusted(-1, -1, 1, 1)
    for quantity, log, (lo, hi) in [("loss", True, (0.05, 2.3)), ("loss", False, (0.624, 0.846)),
                                    ("error", False, (0.3, 2.7)), ("error", True, (0.3, 2.7))]:
        panel.quantity_box.setCurrentIndex(panel.quantity_box.findData(quantity))
        panel.log_box.setChecked(log)
        panel.display(_surface(lo, hi))
        qtbot.wait(50)
        plot = panel.plot
        assert plot.sceneBoundingRect().height() >= 400, (quantity, log, plot.sceneBoundingRect())
        surface = plot.vb.mapViewToScene(panel.image.mapRectToView(panel.image.boundingRect())).boundingRect()
        assert surface.height() >= 320, surface  # the 1:1 surface itself (it was 92-190 px)
        for item in (plot, panel.legend, plot.titleLabel.item, plot.getAxis("bottom").label):
            assert shown.contains(item.sceneBoundingRect()), (type(item).__name__, item.sceneBoundingRect())
        axis = panel.colorbar.axis
        image = QImage(10, 10, QImage.Format.Format_ARGB32)
        painter = QPainter(image)
        try:
            _, _, texts = axis.generateDrawSpecs(painter)
        finally:
            painter.end()
        label = axis.label.mapRectToScene(axis.label.boundingRect())
        bar = axis.sceneBoundingRect()
        assert shown.contains(label) and bar.top() - 1 <= label.top() and label.bottom() <= bar.bottom() + 1, (
            axis.labelText, label, bar)
        ticks = [axis.mapRectToScene(rect) for rect, _flags, _text in texts]
        assert len(ticks) >= 2 and not any(t.intersects(label) for t in ticks), (axis.labelText, label, ticks)
        values = [float(text) for _rect, _flags, text in texts]
        assert _round(values, log), (quantity, log, values)


@pytest.fixture(scope="module")
def six_runs(tmp_path_factory, replay_run):
    """Six runs that differ in their learning rate and more (long labels): a legend of many entries."""
    from tests.analysis_runs import TINY, make_run

    runs = [replay_run]
    for i, lr in enumerate((0.011, 0.022, 0.033, 0.044, 0.055)):
        finetune = {**TINY.get("finetune", {}), "lr": lr}
        model = {**TINY.get("model", {}), "l2": 0.0001 * (i + 1)}
        runs.append(make_run(tmp_path_factory.mktemp(f"six{i}") / "run", finetune=finetune, model=model))
    return runs


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_summary_of_six_runs_keeps_its_plots_under_the_legend(qtbot, size, six_runs, monkeypatch) -> None:
    """Issue 27: six long-named runs, their arms and the mean in Summary's legend row: the legend keeps to 3 rows
    (entries elided, whole names in tooltips) and the box plot and paired differences keep 100 px or more (69 px at
    1280x800 under a five-row legend before)."""
    from desktop_app.core.lab import comparison as comparison_mod

    real = comparison_mod.run_label
    monkeypatch.setattr(comparison_mod, "run_label", lambda cfg, fields, fallback="": real(cfg, fields, fallback)
                        + ", " + ", ".join(f"field_{i}=value_{i}" for i in range(8)))
    window = _window(qtbot, size)
    assert window.compare_runs(six_runs)
    assert window.show_panel("Summary")
    panel = window.panel_widgets["Summary"]
    panel.ensure_current()
    qtbot.wait(100)
    legend = panel.compare_legend
    assert len(legend.items) >= 9  # six runs, their arms, the mean
    assert -(-len(legend.items) // legend.columnCount) <= 3, legend.columnCount
    assert all(len(label.toolTip()) > len(label.text) for _, label in legend.items if "…" in label.text)
    width = panel.graphics.viewport().width()
    assert legend.sceneBoundingRect().right() <= width + 1
    heights = [p.vb.height() for p in (panel.box_plot, panel.diff_plot)]
    assert all(h >= 100 for h in heights), (size, heights)  # 113 px at 1280x800, 69 before


def test_a_long_workspace_path_never_widens_the_window(qtbot, tmp_path) -> None:
    """The Runs pane's "Workspace: <path>" label asked for its whole text's width: a long path made the window 1,387
    px wide at 1280x800 (the fresh-clone suite found it: pytest-xdist's longer temporary paths). The label elides
    in the middle, the whole path in its text and tooltip."""
    deep = tmp_path.joinpath(*["a-rather-long-folder-name-for-a-workspace"] * 6)
    deep.mkdir(parents=True)
    window = _window(qtbot, SIZES[1])
    window.set_workspace(deep)
    assert window.history.wait_loaded()
    window.show_runs_pane()
    qtbot.wait(50)
    label = window.history.workspace_label
    assert (window.width(), window.height()) == SIZES[1]
    assert str(deep) in label.text() and str(deep) in label.toolTip()
    assert "…" in label.shown_text() and label.width() < label.fontMetrics().horizontalAdvance(label.text())
