"""``python -m latent_geodesics.cli``: the command line, as the ``latent-geodesics`` script runs it."""

from . import main

main(prog_name="latent-geodesics")
