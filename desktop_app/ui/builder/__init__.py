"""The builder pane: edits one ExperimentConfig."""

from desktop_app.ui.builder.pane import BuilderPane

__all__ = ["BuilderPane"]
