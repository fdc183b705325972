"""``python -m tests.fake_imagetune serve|worker ...`` (its __main__): the imagetune
command with its workers' processor chosen by IMAGETUNE_TEST_PROCESSOR.

A package with a __main__ rather than a module: multiprocessing does not import a
``__main__`` module again in the worker and inspector processes it spawns, as it would
any other main module (with the whole command line interface, at every start)."""
