"""Every panel: registry, PNG at the requested size, SVG with paths, CSV equal to the drawn data, deferred redraw."""

import csv

import numpy as np
import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QTabWidget

from desktop_app.ui.exports import ExportOptions, export_panel
from desktop_app.ui.panel_names import COMPARISON_PANELS
from desktop_app.ui.panels import ANALYSIS_PANELS, PANELS, Panel, make_panels
from desktop_app.ui.run_store import RunStore
from tests.pause import HANG_MS
from tests.ui import test_panels_data as syn
from tests.ui.test_exports import assert_csv_equals_table, svg_root

# analysis panels: tests/ui/test_analysis_panels.py; HParams (a comparison's only): tests/ui/test_hparams.py
LIVE_PANELS = [n for n in PANELS if n not in ANALYSIS_PANELS and n not in COMPARISON_PANELS]


@pytest.fixture
def store():
    s = RunStore()
    s.ingest(syn.events())
    s.ingest(syn.online_points())  # the Online error panel's data (an online run's points)
    return s


def test_registry_builds_one_of_each(qtbot, store):
    panels = make_panels(store)
    for p in panels.values():
        qtbot.addWidget(p)
    assert list(panels) == ["Filters", "Trajectories", "Curves", "Summary", "HParams", "Online error",
                            *ANALYSIS_PANELS]
    for name, p in panels.items():
        assert isinstance(p, PANELS[name]) and isinstance(p, Panel)
        assert p.explanation and p.header.text() == p.explanation and p.toolTip() == p.explanation


@pytest.mark.parametrize("name", LIVE_PANELS)
def test_exports(qtbot, store, tmp_path, name):
    panel = PANELS[name](store)
    qtbot.addWidget(panel)
    panel.resize(900, 600)

    png = panel.export_png(tmp_path / "p.png", width=640, dpi=150)
    img = QImage(str(png))
    assert not img.isNull() and img.width() == 640 and img.height() > 100
    assert round(img.dotsPerMeterX() * 0.0254) == 150
    assert len({img.pixel(x, y) for x in range(0, 640, 16) for y in range(0, img.height(), 16)}) > 3  # not blank

    svg_root(panel.export_svg(tmp_path / "p.svg"))  # an <svg> holding the plot's paths

    assert_csv_equals_table(panel.export_csv(tmp_path / "p.csv"), panel)
    assert len(panel.data_table()[1]) > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv", "p.png", "p.svg"]  # no temp files left
    assert panel.export(tmp_path / "q.csv").exists()
    with pytest.raises(ValueError):
        panel.export(tmp_path / "q.bmp")


def test_export_panel_makes_its_folder_and_names_the_file_by_the_panels_title(qtbot, store, tmp_path):
    """The Export dialog may name a folder that does not exist yet, parents included; without a stem the files are
    named by the panel's title, made safe for a file name ("Online error" -> online-error.csv)."""
    panel = PANELS["Online error"](store)
    qtbot.addWidget(panel)
    folder = tmp_path / "not" / "yet"
    (path,) = export_panel(panel, ExportOptions(folder, ("csv",)))
    assert path == folder / "online-error.csv"
    assert_csv_equals_table(path, panel)
    (named,) = export_panel(panel, ExportOptions(folder, ("csv",)), "mine")
    assert named == folder / "mine.csv" and named.read_text() == path.read_text()


@pytest.mark.parametrize("aspect", [2.0, 1.25])
def test_a_panel_without_a_run_folder_exports_its_svg_at_the_asked_aspect(qtbot, tmp_path, aspect):
    """Data with no run folder (events not from a saved run): the figure has no run to name, and comes out all the
    same, in the shape the Export dialog asked for (width / height), not the default 1.6."""
    store = RunStore()
    store.ingest(syn.events(run_dir=""))
    panel = PANELS["Trajectories"](store)
    qtbot.addWidget(panel)
    assert panel.export_run_dirs() == []
    (svg,) = export_panel(panel, ExportOptions(tmp_path, ("svg",), aspect=aspect), "t")
    root = svg_root(svg)
    assert not [e for e in root.iter() if e.tag.endswith("metadata") and (e.get("id") or "").startswith("basin")]
    _, _, width, height = (float(v) for v in root.get("viewBox").split())
    assert (width, height) == pytest.approx((900, 900 / aspect), abs=1)  # the export layout is 900 wide


def test_csv_holds_the_known_values(qtbot, store, tmp_path):
    panel = PANELS["Trajectories"](store)
    qtbot.addWidget(panel)
    with open(panel.export_csv(tmp_path / "t.csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    row = next(r for r in rows if (r["arm"], r["seed"], r["epoch"]) == ("dae", "3", "4"))
    assert float(row["train_nll"]) == syn.metric("dae", 3, 4, "train_nll")
    assert float(row["log10_test_nll"]) == pytest.approx(np.log10(syn.metric("dae", 3, 4, "test_nll")))


def test_hidden_panels_redraw_when_shown(qtbot, store):
    tabs = QTabWidget()
    qtbot.addWidget(tabs)
    panels = make_panels(store)
    for name, p in panels.items():
        tabs.addTab(p, name)
    tabs.show()
    qtbot.waitExposed(tabs)
    before = {n: p.redraws for n, p in panels.items()}
    store.ingest(syn.events())  # same run again: everything "changes"
    filters = panels["Filters"]
    assert filters._refresh_timer.isActive()  # the visible tab redraws on the next tick of the live clock
    qtbot.waitUntil(lambda: filters.redraws == before["Filters"] + 1, timeout=HANG_MS)
    assert panels["Summary"].redraws == before["Summary"]  # hidden: deferred
    tabs.setCurrentWidget(panels["Summary"])
    assert panels["Summary"].redraws == before["Summary"] + 1


def test_a_cleared_store_empties_every_panel(qtbot, store):
    panels = make_panels(store)
    for p in panels.values():
        qtbot.addWidget(p)
    store.clear()
    for p in panels.values():
        assert p.data_table()[1] == []
    assert not panels["Filters"].images["left"].isVisible() and panels["Filters"].timeline == []
    assert panels["Trajectories"].items == {}
    store.ingest(syn.events())  # and a new run fills them again
    store.ingest(syn.online_points())
    assert all(panels[n].data_table()[1] for n in LIVE_PANELS)


@pytest.mark.parametrize("name", ["Curves", "Summary", "Trajectories"])
def test_exported_legends_scale_with_the_figure(qtbot, store, name):
    """Issue 27: legends inside a plot kept their on-screen pixel size in a PNG rendered at twice the layout's width
    (about half the axis text's size). During an export they scale with the scene like the axis text, and get
    their fixed on-screen size back afterwards."""
    import pyqtgraph as pg
    from PySide6.QtGui import QTransform

    panel = make_panels(store)[name]
    qtbot.addWidget(panel)
    panel.ensure_current()
    legends = [i for i in panel.graphics.scene().items() if isinstance(i, pg.LegendItem) and i.items]
    assert legends
    zoom = QTransform.fromScale(2.0, 2.0)  # what rendering at twice the layout width does
    with panel._export_layout():
        assert all(lg.deviceTransform(zoom).m11() == pytest.approx(2.0) for lg in legends)
    assert all(lg.deviceTransform(zoom).m11() == pytest.approx(1.0) for lg in legends)
