"""latent-geodesics: perceptually shortest, realistic interpolation paths in generative models' latent spaces."""

__version__ = "0.1.0"
