"""What one net trains with: ``models`` (layer specs to modules), ``step`` (the autograd fine-tuning step, the oracle
and the conv path), ``dense_step`` (the hand-written dense step at any K), ``steppers`` (the step a unit uses),
``greedy`` (layer-wise pre-training), ``checkpoints`` (saving and checked loading), ``device`` (auto/cpu/cuda),
``unit`` and ``online_unit`` (one (arm, seed) of a standard or online run). docs/ARCHITECTURE.md, "Layers"."""
