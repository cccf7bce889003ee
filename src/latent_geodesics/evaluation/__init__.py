"""Evaluation of finished paths: length, speed uniformity, brightness and realism, against baselines.

What section 6 of the design judges, measured on a batch of paths ``points: (B, N+1, *latent_shape)``
and, for comparison, on the linear and slerp paths between the same endpoints with the same ``N``:

- per metric: length ``L = sum_i d_i``, energy ``N * sum_i d_i^2``, the step distances ``d_i`` and how
  uneven they are (coefficient of variation ``std(d) / mean(d)``, and ``max(d) / mean(d)``);
- per frame: brightness and contrast (mean and std of the luminance on the ``[0, 1]`` scale), and the
  mid-path change against the endpoints (Laine's darkening failure mode);
- per frame, where the generator carries a discriminator: the raw critic score (higher = more real).

Each frame goes through the generator once, and through each metric's feature network once; frames are
streamed in chunks of ``chunk_size`` so memory stays bounded for any ``B`` and ``N``. Nothing here needs
gradients.

- :mod:`.functional`: the numbers as pure functions of tensors;
- :mod:`.evaluate`: :func:`evaluate_paths`, streaming the frames of path sets and their baselines;
- :mod:`.files`: :func:`evaluate_file`, the same for the paths of an ``interpolate`` or ``compare`` file;
- the table ``evaluate`` prints, :func:`format_table`, is in :mod:`latent_geodesics.reporting.tables`.
"""

from ..paths import baseline_path  # re-exported: bench/ and older callers import it from here
from ..reporting.tables import format_table, median_or_none
from .evaluate import PATH_METHOD, evaluate_paths
from ..pathfile import WRITTEN_BY
from .files import evaluate_file
from .functional import (LUMA, brightness_contrast, critic_scores, luminance, max_over_mean_step, mid_path_change,
                         mid_path_ratio, middle_third, step_cv)

__all__ = ["LUMA", "PATH_METHOD", "WRITTEN_BY", "baseline_path", "brightness_contrast", "critic_scores",
           "evaluate_file", "evaluate_paths", "format_table", "luminance", "max_over_mean_step", "median_or_none",
           "mid_path_change", "mid_path_ratio", "middle_third", "step_cv"]
