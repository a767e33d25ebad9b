"""Studies: several points (a sweep, specs or variants) trained with the same data, recipe and
seeds, compared in one table. ``xdsl study`` and its API:

    from xdsl.study import plan, run, results
    study = plan.make("spectrum", plan.grid(["mini_xception"], [("width", ["8", "16"])]),
                      seeds=[0, 1], data={"shapes_train": 320}, recipe_fields={"epochs": 2})
    plan.settle("studies/spectrum", study)
    run.run_study("studies/spectrum", study)
    print(results.render(results.write("studies/spectrum", study), "markdown"))

Modules: ``plan`` (points, seeds, the stored plan; no torch), ``run`` (training the runs in
this process or through submitit), ``results`` (the table: text, Markdown, LaTeX, JSON, CSV),
``command`` (the CLI).
"""
