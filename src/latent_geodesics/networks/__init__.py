"""Feature networks for perceptual metrics, written here: VGG-19, VGG-16 and AlexNet convolution stacks.

- :mod:`.architectures`: the networks as modules (:class:`FeatureNet`), their layers, preprocessing and
  minimum image size;
- :mod:`.load`: the networks with their weights, frozen (:func:`vgg19`, :func:`vgg16`, :func:`alexnet`,
  :func:`lpips_backbone`);
- :mod:`.unpickle`: the restricted unpickler for the LPIPS weight files.

The weight files themselves (which there are, our file format, the VGG-19 rebuild) are
:mod:`latent_geodesics.weights`'s; their names are re-exported here.
"""

from ..weights.netfile import FORMAT, KERAS_CAFFE, TORCHVISION, Preprocessing, network_sha256
from ..weights.vgg19 import (
    ADAIN_CONV_KEYS, KERAS_CONV_NAMES, VGG19_CONV_INDICES, build_vgg19, codebook_cells, reconstruct_vgg19,
)
from .architectures import (
    ALEXNET_LAYERS, LPIPS_MIN_SIZE, LPIPS_VGG16_LAYERS, MAX_SIZE, VGG19_LAYERS, VGG_MIN_SIZE, FeatureNet,
    check_max_size, conv_indices, layer_names, resize_to_max, resize_to_min,
)
from .load import TORCHVISION_VGG19_FILE, alexnet, lpips_backbone, torchvision_vgg19_path, vgg16, vgg19
from .unpickle import load_numpy_pickle

__all__ = [
    "ADAIN_CONV_KEYS", "ALEXNET_LAYERS", "FORMAT", "FeatureNet", "KERAS_CAFFE", "KERAS_CONV_NAMES", "LPIPS_MIN_SIZE",
    "LPIPS_VGG16_LAYERS", "MAX_SIZE", "Preprocessing", "TORCHVISION", "VGG19_CONV_INDICES", "VGG19_LAYERS", "VGG_MIN_SIZE",
    "alexnet", "build_vgg19", "check_max_size", "codebook_cells", "conv_indices", "layer_names", "load_numpy_pickle", "lpips_backbone",
    "network_sha256", "reconstruct_vgg19", "resize_to_max", "resize_to_min", "torchvision_vgg19_path", "vgg16", "vgg19",
]
