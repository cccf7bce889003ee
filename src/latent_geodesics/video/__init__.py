"""Videos in seconds: easing on perceived change, holds, smooth joins, timelines, audio-driven motion, and the
formats people share.

Layer: above :mod:`latent_geodesics.rendering` (it uses the solvers' arc-length lookup and the rendering
helpers); :mod:`latent_geodesics.jobs` and the CLI use it.
"""

from .easing import EASINGS, ease, easing_help, easing_names
from .frames import VideoPath, video_frames, write_speed_plot
from .outputs import SPEED_PLOT, check_legs, output_info, prepare, strip_frames, video_files, write_files
from .settings import (FORMAT_FILES, FORMATS, LegSpec, Timeline, VideoSettings, Waypoint, parse_formats,
                       parse_timeline, read_timeline)
from .timing import Schedule, audio_schedule, easing_schedule

__all__ = ["EASINGS", "FORMATS", "FORMAT_FILES", "LegSpec", "SPEED_PLOT", "Schedule", "Timeline", "VideoPath",
           "VideoSettings", "Waypoint", "audio_schedule", "check_legs", "ease", "easing_help", "easing_names",
           "easing_schedule", "output_info", "parse_formats", "parse_timeline", "prepare", "read_timeline",
           "strip_frames", "video_files", "video_frames", "write_files", "write_speed_plot"]
