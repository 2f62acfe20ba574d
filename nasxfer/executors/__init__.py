"""Where trials run when several run at once: the executor a config names (``choice``), one
trial away from the run folder (``remote``), and Ray tasks (``ray_executor``).

``executor.name: local`` (the default) needs none: ``runner.run_search`` trains each trial
itself. ``ray`` runs trials as Ray tasks, driven by ``nasxfer.search.parallel``. Ray is an
optional extra, imported only when a config asks for it. Executors never write the run
folder: the driver records what they send back.
"""
