"""Seed batches: K seeds of one arm trained as one stacked net (``dense``-step stacks in ``training.dense_step``,
conv stacks in ``conv``, stacked greedy pre-training in ``pretrain``, the batch unit in ``batch``); each seed's
numbers equal its own run's. docs/ARCHITECTURE.md, "Seed batches"."""
