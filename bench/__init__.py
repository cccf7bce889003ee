"""Benchmark suite of latent-geodesics: ``python -m bench SUITE [--quick] [--device cpu|cuda] [--out DIR]``.

Suites (one module each, one JSON each under ``bench/results/<suite>.json``):

- ``laine``: Laine's claims on ``zoo:faces64`` (lengths under equalized VGG, speed uniformity, darkening).
- ``solvers``: energy reached per second and per generator evaluation, for every solver.
- ``landscape``: the one-midpoint problem solved by each optimiser far past its budget: why paths converge slowly.
- ``throughput``: path points per second inside a solver step against the bare models; peak memory.
- ``scaling``: time per path as the number of pairs grows, batched against one pair at a time.
- ``realism``: Petzka et al.'s claims on ``zoo:fashion32`` and ``zoo:mnist28``, judged by independent
  classifiers (judge confidence, off-class frames) next to the discriminator's realism, for the straight
  line, the plain ``vgg-eq`` geodesic and the discriminator-weighted ones (both forms, several lambdas).
- ``laine_celeba64``: Laine's claims on ``zoo:celeba64``, a face model of real photos.
- ``projection``: real photos (CelebA, Fashion-MNIST) projected into ``zoo:celeba64`` and ``zoo:fashion32``:
  reconstruction LPIPS and PSNR, random starts, seconds.
- ``first_run``: ``interpolate --seed 1 --seed 2`` as a newcomer types it, at the default and a few vgg-eq
  settings, timed end to end: seconds, converged or not, step CV.
- ``speedup``: today's default solver against the previous one, pair by pair, against a long reference per
  pair (faces64, celeba64, mnist28); and a batch of pairs against the same pairs one at a time.
- ``coarse_rule``: the ``speedup`` pairs by the default and by the default with its coarse levels on the energy
  rule (``--coarse-ftol 0``), against the ``speedup`` references.
- ``precision``: the ``speedup`` pairs by the default with VGG-19 in float32 and in bfloat16 (``--precision``).
- ``batch``: 8 pairs as one batch against the same pairs one at a time: evaluations, energies, steps per pair.
- ``metric_size``: what bounding the metric's image size (``max_size``) costs in quality (``zoo:eyes128`` solved at 64
  and 128 px, measured at 128) and saves per latent evaluation, by image size (64-1024 px stand-ins).
- ``real_size``: ``interpolate`` on 64-1024 px, 512-d stand-ins as typed, with and without ``--time-limit``: wall
  time, peak memory, chunk, cost per latent.
- ``stylegan``: a 256 px, 512-d StyleGAN2-class stand-in pickled as NVIDIA's: paths in Z, W and W+ (length against
  the straight line, LPIPS energy on PPL's scale, time, peak memory, how far W paths leave the mapping's region).

``speedup``, ``coarse_rule``, ``precision`` and ``batch`` hold each pair against the lowest energy any run has
reached for it, kept in ``bench/results/references.json`` (:mod:`bench.references`).

Every run then rewrites ``BENCHMARKS.md`` from all the JSON files present (see :mod:`bench.report`).
``--quick`` runs each suite at toy size on a tiny random generator (no weights, seconds) so that CI can
check the code still runs; its numbers mean nothing.
"""

SUITES = ("laine", "laine_celeba64", "realism", "solvers", "landscape", "throughput", "scaling", "projection",
          "first_run", "speedup", "coarse_rule", "precision", "batch", "metric_size", "real_size", "stylegan")
"""Suite names in the order ``all`` runs them (and BENCHMARKS.md lists them)."""
