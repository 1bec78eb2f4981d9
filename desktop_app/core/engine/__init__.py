"""The engine room: a run is units on an executor (``run``), checked before it starts (``preflight``), and a sweep
becomes run folders by one policy (``sweep_plan``). docs/ARCHITECTURE.md, "Layers"."""
