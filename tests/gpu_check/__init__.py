"""Everything a GPU session should measure, in one call of at most 8 minutes.

Run it from the repository root with the Python that has torch (CUDA build), pytest,
pytest-benchmark and hypothesis; nox, syrupy and the internet are not needed::

    PYTHONPATH=src python scripts/gpu-check            # writes to $OUT, else gpu-check/

Stages, each in its own time box, each in a subprocess of its own (so one that fails,
hangs or crashes the CUDA context does not stop the others):

  env        card, driver (nvidia-smi), torch, CUDA and cuDNN versions -> env.json, env.txt
  pytest     ``pytest -m gpu tests/regression/test_cuda.py`` -> pytest-gpu.xml (JUnit,
             with the measured drifts as properties), pytest-gpu.log
  bench      the CUDA train-step benchmarks (``tests/benchmarks/test_train_step.py
             --benchmark-only -k cuda``) -> bench-cuda.json, bench-cuda.log
  train-eager, train-graph, train-bf16
             ``moola train --device cuda`` with the main job's defaults, plain, ``--graph``
             and ``--bf16`` -> train-*/metrics.json, train-*.log
  pretrain   ``moola pretrain --device cuda`` with both objectives (masks, the rule's labels
             on the fly, five heads) on a million bars of the synthetic market, batch 256
             -> pretrain/metrics.json, pretrain.log; its windows per second in summary.md
  rows       gpu-rows.md: the BENCHMARKS.md rows (ms per step; ratios against ``static``
             eager and against the seed-style loop, all from this run's bench-cuda.json)
             and the three training runs

Then summary.md (and .json), one line per stage and gpu-rows.md on stdout. The stages write
to gpu-check/work/ (kept for ``--stages`` reruns); $OUT then receives at most 8 files, as a
device call returns no more: summary.md, gpu-rows.md, pytest-gpu.xml, pytest-gpu.log,
bench-cuda.json, env.json, train.log (the three runs' logs) and gpu-check.tar.gz (all of the
work folder but the checkpoints). Exit status: 0 when every
stage passed, 1 when any failed or ran out of time (the summary names them), 2 when torch
cannot be imported. Without CUDA it prints one line and exits 0 at once.

``--dry-run`` runs the same stages on the CPU (tests with ``MOOLA_GPU_DRY_RUN=1``, CPU
benchmarks at batch 32, 30-step training runs, a 20-step pretraining run): a check of this
package and of the test code, not of CUDA. There the ``--graph`` tests and stage must fail (CUDA graphs need CUDA).

The modules, one job each: ``cli`` (the command line and ``main``), ``stages`` (one function
per stage and the stage table), ``runner`` (time boxes, subprocesses, the budget),
``machine`` (what the card and software are), ``figures`` (the numbers read from the
stages' files), ``render`` (every line of markdown and JSON) and ``pack`` (what goes to
$OUT). A new stage is one function in ``stages`` and one line in its ``STAGES`` table.
"""
