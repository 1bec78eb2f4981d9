"""Editor widgets for config fields, made from each field's declaration; generic read/write; invalid marker."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QPlainTextEdit, QSpinBox, QWidget

from desktop_app.core.config import Declared, FieldSpec

INVALID_STYLE = '*[invalid="true"] { border: 2px solid #d0312d; border-radius: 3px; }'
INT_MAX = 2**31 - 1


class TypedSpin:
    """What a spin box holds is what was typed, in range or not (mixed into :class:`IntSpin` and :class:`FloatSpin`).

    A plain spin box keeps its last in-range value while the text is out of range ("-0.1" in a box whose range
    starts at 0 leaves the value at -0 from "-0"), and puts that value back on Enter or focus-out: the config's
    message then named a number nobody typed ("got -0") and stayed stale after a correction. :meth:`typed` reads
    the text itself, and :meth:`fixup` widens the range to a typed out-of-range number, so the box keeps it and
    the config marks it with its own message (the arrows still step inside the declared range set again by
    ``BuilderPane.set_config``)."""

    def _connect_edited(self) -> None:
        """``edited`` fires on a new value (setValue, arrows) and on every keystroke (setValue leaves the line
        edit's signal blocked, a keystroke out of range leaves the value unchanged)."""
        self.valueChanged.connect(lambda *_: self.edited.emit())  # type: ignore[attr-defined]
        self.lineEdit().textChanged.connect(lambda *_: self.edited.emit())  # type: ignore[attr-defined]

    def _parse(self, text: str) -> float | None:
        raise NotImplementedError

    def typed(self) -> float | int:
        """The number in the box's text (out of range included), else its value (a special text such as "all")."""
        got = self._parse(self.cleanText())  # type: ignore[attr-defined]
        return self.value() if got is None else got  # type: ignore[attr-defined]

    def validate(self, text: str, pos: int) -> object:
        state = super().validate(text, pos)  # type: ignore[misc]
        if state[0] == QValidator.State.Invalid and self._parse(text) is not None:
            return (QValidator.State.Intermediate, text, pos)  # out of range: kept, then marked by the config
        return state

    def fixup(self, text: str) -> str:  # Enter or focus-out with an out-of-range number: keep it, not the old value
        got = self._parse(text)
        if got is not None:
            self.setRange(min(self.minimum(), got), max(self.maximum(), got))  # type: ignore[attr-defined]
        return text


class IntSpin(TypedSpin, QSpinBox):
    """An int field; its range comes from the declaration (see :func:`widget_range`)."""

    edited = Signal()

    def __init__(self, lo: int = 0, hi: int = INT_MAX, special: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._connect_edited()
        self.setRange(lo, hi)
        self.setAccelerated(True)
        if special:
            self.setSpecialValueText(special)  # shown at the minimum, e.g. "all" for 0

    def _parse(self, text: str) -> int | None:
        try:
            value = int(text.strip())
        except ValueError:
            return None
        return value if -INT_MAX - 1 <= value <= INT_MAX else None


class NumberList(QLineEdit):
    """A list of numbers typed as "25, 50, 500" (a sweep's values); pieces that are not numbers are ignored and
    listed in the tooltip-free ``bad`` attribute so the validation message can name them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("e.g. 25, 50, 500")
        self.bad: list[str] = []

    def numbers(self) -> tuple[float, ...]:
        out, self.bad = [], []
        for piece in self.text().replace(";", ",").split(","):
            piece = piece.strip()
            if not piece:
                continue
            try:
                out.append(float(piece))
            except ValueError:
                self.bad.append(piece)
        return tuple(out)

    def set_numbers(self, values: tuple[float, ...]) -> None:
        if self.numbers() != tuple(values):
            self.setText(", ".join(f"{v:g}" for v in values))


class FloatSpin(TypedSpin, QDoubleSpinBox):
    """A float field shown compactly (0.1, 1e-05) that accepts any float typed in."""

    edited = Signal()

    def __init__(self, lo: float = 0.0, hi: float = 1e6, step: float = 0.01, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._connect_edited()
        self.setDecimals(12)
        self.setRange(lo, hi)
        self.setSingleStep(step)
        self.setAccelerated(True)

    def textFromValue(self, value: float) -> str:  # noqa: N802 - Qt override
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802 - Qt override
        try:
            return float(text.strip())
        except ValueError:
            return self.value()

    def _parse(self, text: str) -> float | None:
        try:
            value = float(text.strip())
        except ValueError:
            return None
        return value if math.isfinite(value) else None

    def validate(self, text: str, pos: int) -> object:
        t = text.strip()
        try:
            v = float(t)
        except ValueError:
            partial = t in ("", "-", ".", "-.") or t.lower().endswith(("e", "e-", "e+"))
            return (QValidator.State.Intermediate if partial else QValidator.State.Invalid, text, pos)
        if not math.isfinite(v) or v < self.minimum() or v > self.maximum():
            return (QValidator.State.Intermediate, text, pos)
        return (QValidator.State.Acceptable, text, pos)


def combo(items: tuple[str, ...] | list[str], parent: QWidget | None = None, help: dict | None = None) -> QComboBox:  # noqa: A002
    box = QComboBox(parent)
    box.addItems(list(items))
    for i, name in enumerate(items):
        if help and name in help:
            box.setItemData(i, help[name], Qt.ItemDataRole.ToolTipRole)
    return box


def widget_range(spec: FieldSpec) -> tuple[float, float]:
    """A spin box spans the declared range, widened at the low end down to 0: a value just below the range is
    then shown with the config's own message (red border, "must be in [1, 100000], got 0") instead of being
    silently clamped, and 0 can carry a special text such as "all"."""
    assert spec.lo is not None and spec.hi is not None
    return min(spec.lo, 0), spec.hi


def make_widget(d: Declared) -> QWidget:
    """The editor for one declared field: check box, combo, spin box, text box or line edit."""
    s = d.spec
    if d.type is bool:
        return QCheckBox(s.label)
    if s.choices:
        return combo(s.choices, help=dict(s.choice_help))
    if d.type is int:
        lo, hi = widget_range(s)
        spin = IntSpin(int(lo), int(min(hi, INT_MAX)), special=s.special)
        if s.step:
            spin.setSingleStep(int(s.step))
        return spin
    if d.type is float:
        lo, hi = widget_range(s)
        return FloatSpin(lo, hi, s.step or 0.01)
    if s.widget == "numbers":
        return NumberList()
    if s.widget == "sweep_field":
        from desktop_app.core.config.sweep import sweepable_fields

        box = combo(("", *sweepable_fields()))
        box.setItemText(0, "")
        box.setEditable(True)  # any numeric dotted field may be typed; validation names a wrong one
        box.lineEdit().setPlaceholderText("no sweep")
        return box
    if s.widget == "text":
        box = QPlainTextEdit()
        box.setTabChangesFocus(True)
        box.setFixedHeight(box.fontMetrics().lineSpacing() * 3 + 12)
        return box
    edit = QLineEdit()
    if s.max_len:
        edit.setMaxLength(int(s.max_len))
    return edit


def read_value(widget: QWidget) -> Any:
    if isinstance(widget, NumberList):
        return widget.numbers()
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    if isinstance(widget, QComboBox):
        return widget.currentText()
    if isinstance(widget, FloatSpin):
        return float(widget.typed())
    if isinstance(widget, IntSpin):
        return int(widget.typed())
    if isinstance(widget, QDoubleSpinBox):
        return float(widget.value())
    if isinstance(widget, QSpinBox):
        return int(widget.value())
    if isinstance(widget, QLineEdit):
        return widget.text()
    if isinstance(widget, QPlainTextEdit):
        return widget.toPlainText()
    raise TypeError(f"no reader for {type(widget).__name__}")


def write_value(widget: QWidget, value: Any) -> None:
    if isinstance(widget, NumberList):
        widget.set_numbers(tuple(value))
    elif isinstance(widget, QCheckBox):
        widget.setChecked(bool(value))
    elif isinstance(widget, QComboBox):
        if widget.findText(str(value)) < 0:
            widget.addItem(str(value))
        widget.setCurrentText(str(value))
    elif isinstance(widget, QDoubleSpinBox | QSpinBox):
        if isinstance(widget, QSpinBox):
            value = max(-INT_MAX - 1, min(INT_MAX, int(value)))
        lo, hi = widget.minimum(), widget.maximum()
        if isinstance(value, int | float) and math.isfinite(value) and not lo <= value <= hi:
            # a value from a file outside the declared range stays visible, marked by the config's message
            widget.setRange(min(lo, value), max(hi, value))
        widget.setValue(value)
    elif isinstance(widget, QLineEdit):
        widget.setText(str(value))
    elif isinstance(widget, QPlainTextEdit):
        if widget.toPlainText() != value:
            widget.setPlainText(str(value))
    else:
        raise TypeError(f"no writer for {type(widget).__name__}")


def change_signal(widget: QWidget):
    """The signal that fires when the user edits the widget."""
    if isinstance(widget, QCheckBox):
        return widget.toggled
    if isinstance(widget, QComboBox):
        return widget.currentTextChanged
    if isinstance(widget, TypedSpin):
        return widget.edited  # every keystroke, out of range too (see TypedSpin)
    if isinstance(widget, QDoubleSpinBox | QSpinBox):
        return widget.valueChanged
    if isinstance(widget, QLineEdit | QPlainTextEdit):
        return widget.textChanged
    raise TypeError(f"no change signal for {type(widget).__name__}")


def set_invalid(widget: QWidget, message: str | None, default_tip: str = "") -> None:
    """Red border + the config's message as tooltip (message None restores the normal tooltip)."""
    invalid = message is not None
    if bool(widget.property("invalid")) != invalid:
        widget.setProperty("invalid", invalid)
        widget.style().unpolish(widget)
        widget.style().polish(widget)
    widget.setToolTip(message if invalid else default_tip)
