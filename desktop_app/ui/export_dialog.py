"""ExportDialog: formats, PNG width, DPI and aspect, destination folder (and a file name for a single panel).

Used by every panel's Export button and by File > Export all. The choices persist in QSettings so a paper's
figures come out the same size every time.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QWidget,
)

from desktop_app.ui import settings as settings_mod
from desktop_app.ui.exports import ASPECTS, FORMATS, ExportOptions

FORMAT_TIPS = {
    "png": "Raster image at the width and DPI below (for slides and documents)",
    "svg": "Vector image: curves stay sharp at any size (for papers)",
    "csv": "The numbers behind exactly what is drawn",
}


class ExportDialog(QDialog):
    """Call ``open()`` (non-blocking) and read ``options()`` / ``stem()`` when ``accepted`` fires."""

    def __init__(self, parent: QWidget | None, title: str, stem: str | None = None,
                 folder: Path | str | None = None, note: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setObjectName("exportDialog")
        self._single = stem is not None
        s = settings_mod.app_settings()
        saved = str(s.value("export/formats", ",".join(FORMATS))).split(",")
        self.format_boxes: dict[str, QCheckBox] = {}
        formats_row = QHBoxLayout()
        for fmt in FORMATS:
            box = QCheckBox(fmt.upper())
            box.setChecked(fmt in saved)
            box.setToolTip(FORMAT_TIPS[fmt])
            box.toggled.connect(self._update_ok)
            self.format_boxes[fmt] = box
            formats_row.addWidget(box)
        formats_row.addStretch(1)

        self.width_spin = QSpinBox()
        self.width_spin.setRange(200, 10_000)
        self.width_spin.setSingleStep(100)
        self.width_spin.setSuffix(" px")
        self.width_spin.setValue(max(200, int(s.value("export/width", 1600))))
        self.width_spin.setToolTip("PNG width in pixels; fonts and legends scale with it (the figure looks the "
                                   "same at any width, only sharper)")
        self.aspect_box = QComboBox()
        for name, ratio in ASPECTS.items():
            self.aspect_box.addItem(f"{name} (width : height)", ratio)
        saved_aspect = str(s.value("export/aspect", "16:10"))
        self.aspect_box.setCurrentIndex(max(0, list(ASPECTS).index(saved_aspect) if saved_aspect in ASPECTS else 0))
        self.aspect_box.setToolTip("The figure's shape, for PNG and SVG: independent of the panel's shape on screen")
        self.dpi_spin = QSpinBox()
        self.dpi_spin.setRange(0, 1200)
        self.dpi_spin.setSingleStep(25)
        self.dpi_spin.setSpecialValueText("not set")
        self.dpi_spin.setValue(int(s.value("export/dpi", 150)))
        self.dpi_spin.setToolTip("Resolution written into the PNG: its printed size is width / DPI inches")

        self.folder_edit = QLineEdit(str(folder or s.value("export/folder", str(Path.home()))))
        self.folder_edit.setToolTip("The files are written into this folder (created if missing)")
        self.folder_edit.textChanged.connect(self._update_ok)
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip("Choose the folder")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)

        self.stem_edit = QLineEdit(stem or "")
        self.stem_edit.setToolTip("File name without extension; one file per chosen format")
        self.stem_edit.textChanged.connect(self._update_ok)

        form = QFormLayout(self)
        if note:
            label = QLabel(note)
            label.setWordWrap(True)
            form.addRow(label)
        form.addRow("Formats", formats_row)
        form.addRow("PNG width", self.width_spin)
        form.addRow("PNG DPI", self.dpi_spin)
        form.addRow("Aspect", self.aspect_box)
        form.addRow("Folder", folder_row)
        if stem is not None:
            form.addRow("File name", self.stem_edit)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.resize(560, self.sizeHint().height())
        self._update_ok()

    def formats(self) -> tuple[str, ...]:
        return tuple(f for f, box in self.format_boxes.items() if box.isChecked())

    def options(self) -> ExportOptions:
        return ExportOptions(Path(self.folder_edit.text().strip()).expanduser(), self.formats(),
                             self.width_spin.value(), self.dpi_spin.value(), float(self.aspect_box.currentData()))

    def stem(self) -> str | None:
        return (self.stem_edit.text().strip() or None) if self._single else None

    def set_values(self, folder: Path | str | None = None, formats: tuple[str, ...] | None = None,
                   width: int | None = None, dpi: int | None = None, aspect: str | None = None) -> None:
        """Programmatic setup (tests, scripts)."""
        if folder is not None:
            self.folder_edit.setText(str(folder))
        if formats is not None:
            for fmt, box in self.format_boxes.items():
                box.setChecked(fmt in formats)
        if width is not None:
            self.width_spin.setValue(width)
        if dpi is not None:
            self.dpi_spin.setValue(dpi)
        if aspect is not None:
            self.aspect_box.setCurrentIndex(list(ASPECTS).index(aspect))

    def accept(self) -> None:
        s = settings_mod.app_settings()
        s.setValue("export/formats", ",".join(self.formats()))
        s.setValue("export/width", self.width_spin.value())
        s.setValue("export/dpi", self.dpi_spin.value())
        s.setValue("export/aspect", list(ASPECTS)[self.aspect_box.currentIndex()])
        s.setValue("export/folder", self.folder_edit.text().strip())
        super().accept()

    def _update_ok(self, *_args: object) -> None:
        ok = bool(self.formats()) and bool(self.folder_edit.text().strip())
        if self._single:
            ok = ok and bool(self.stem_edit.text().strip())
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Export into folder", self.folder_edit.text())
        if chosen:
            self.folder_edit.setText(chosen)
