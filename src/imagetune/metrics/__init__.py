"""Prometheus metrics: what they are (instruments), where they are kept across processes
(multiprocess), how job events reach them (jobs), and how they are served (exposition).

Only the hosting layer, the API and the wiring use this package; the engine reports its
phases through a plain callback (imagetune.engine.base.PhaseCallback)."""
