"""The "Runs named by / Group by" menu of a comparison's panels (Curves, Summary, Trajectories, HParams) and where
the choice is kept (QSettings, like the window's other view state).

What the choice means lives in ``core/lab/grouping.py`` (which fields, how groups pool their seeds); this module
only shows it: a tool button in each comparing panel's toolbar, visible while a comparison is open, whose menu
lists the fields that differ (those that cannot matter after a separator) as label keys and as group-by fields.
Every panel's button edits the one view the lab model holds, so all comparing panels agree.
"""

from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QToolButton, QWidget

from desktop_app.core.config.diff import short_key
from desktop_app.core.lab.grouping import ComparisonView, choosable_fields
from desktop_app.ui import settings as settings_mod
from desktop_app.ui.run_store import RunStore

LABEL_KEYS = "comparison/labelKeys"
GROUP_BY = "comparison/groupBy"
DEFAULT = "default"  # LABEL_KEYS' value for "the fields that differ and matter"
MAX_FIELD_CHARS = 200  # a longer stored field name is not a field (a hostile or damaged settings file)


def load_view() -> ComparisonView:
    """The view saved last (the default view when none was, or the stored value is not one)."""
    s = settings_mod.app_settings()
    keys = s.value(LABEL_KEYS, DEFAULT)
    group = s.value(GROUP_BY, "")
    if not isinstance(keys, str) or not isinstance(group, str) or len(group) > MAX_FIELD_CHARS:
        return ComparisonView()
    if keys == DEFAULT:
        label_keys = None
    else:
        label_keys = tuple(k for k in keys.split(",") if k and len(k) <= MAX_FIELD_CHARS)
    return ComparisonView(label_keys, group)


def save_view(view: ComparisonView) -> None:
    s = settings_mod.app_settings()
    s.setValue(LABEL_KEYS, DEFAULT if view.label_keys is None else ",".join(view.label_keys))
    s.setValue(GROUP_BY, view.group_by)
    s.sync()


def set_view(store: RunStore, view: ComparisonView) -> None:
    """Apply ``view`` to the lab's comparisons and keep it for the next session."""
    store.model.set_comparison_view(view)
    save_view(view)


class ComparisonViewButton(QToolButton):
    """"Names & groups ▾": which differing fields name the compared runs, and one field to group them by."""

    def __init__(self, store: RunStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.setText("Names && groups")
        self.setToolTip("Choose the fields that name the compared runs, or group them by one field (each group "
                        "pools its runs' seeds per arm)")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.menu_ = QMenu(self)
        self.menu_.aboutToShow.connect(self.rebuild)
        self.setMenu(self.menu_)
        store.comparisonChanged.connect(self._on_comparison)
        self._on_comparison(store.comparison)

    def _on_comparison(self, comparison: object) -> None:
        self.setVisible(comparison is not None)
        if comparison is not None:
            self.setText(self._caption())

    def _caption(self) -> str:
        comparison = self.store.comparison
        if comparison is not None and comparison.group_by:
            return f"Grouped by {short_key(comparison.group_by, choosable_fields(comparison))}"
        return "Names && groups"

    def rebuild(self) -> None:
        """The menu for the comparison open now (its fields, the current choice checked)."""
        menu = self.menu_
        menu.clear()
        comparison = self.store.comparison
        if comparison is None:
            return
        fields = choosable_fields(comparison)
        view = self.store.model.comparison_view
        menu.addSection("Name runs by")
        default = menu.addAction("What differs and matters (default)")
        default.setCheckable(True)
        default.setChecked(view.label_keys is None)
        default.triggered.connect(lambda: self.choose(None, view.group_by))
        first_other = comparison.other_fields[0] if comparison.other_fields else None
        for key in fields:
            if key == first_other:
                menu.addSection("Fields that cannot change the results")
            action = menu.addAction(key)
            action.setCheckable(True)
            action.setChecked(key in comparison.label_keys)
            action.setData(("label", key))
            action.toggled.connect(lambda on, k=key: self.toggle_key(k, on))
        menu.addSection("Group by")
        group = QActionGroup(menu)
        group.setExclusive(True)
        for key in ["", *fields]:
            action = QAction(key or "No grouping", menu)
            action.setCheckable(True)
            action.setChecked(key == comparison.group_by)
            action.setData(("group", key))
            action.triggered.connect(lambda _=False, k=key: self.choose(self._keys(), k))
            group.addAction(action)
            menu.addAction(action)

    def _keys(self) -> tuple[str, ...] | None:
        return self.store.model.comparison_view.label_keys

    def toggle_key(self, key: str, on: bool) -> None:
        """Add or remove one label key (from the keys shown now: the default ones at first)."""
        comparison = self.store.comparison
        if comparison is None:
            return
        keys = [k for k in comparison.label_keys if k != key]
        if on:
            order = choosable_fields(comparison)
            keys = sorted([*keys, key], key=lambda k: order.index(k) if k in order else len(order))
        self.choose(tuple(keys), self.store.model.comparison_view.group_by)

    def choose(self, label_keys: tuple[str, ...] | None, group_by: str) -> None:
        set_view(self.store, ComparisonView(label_keys, group_by))
        self.setText(self._caption())


__all__ = ["ComparisonViewButton", "load_view", "save_view", "set_view"]
