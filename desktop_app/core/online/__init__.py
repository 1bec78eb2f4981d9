"""The online experiment (kind "online", Erhan et al. 2010, Fig. 2): an endless stream of deformed examples,
each seen once, and the online error against the number of examples seen (docs/ARCHITECTURE.md, "Online
experiments").

  stream   OnlineStream (deterministic per seed and example index), evaluation_points
  unit     one (arm, seed) online unit: pre-training and fine-tuning on the stream, points, resume
"""
