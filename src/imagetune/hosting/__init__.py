"""Running imagetune: process entry points and their supervision (the worker process, the
pool that supervises worker processes, the worker host). Above the wiring, which it uses;
nothing below imports it."""
