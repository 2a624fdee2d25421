"""Models: parameter counts, init variances (docs/definitions.md), the NTK parametrisation, the CNN's shapes."""

import math

import pytest
import torch

from lplr.models import CNN, MLP, NTKMLP, build_model, depth_aware_factor, init_variance


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny shapes: 1 thread (2 threads on a busy 2-core machine spin for ms per op)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def count(model):
    return sum(p.numel() for p in model.parameters())


def test_mlp_parameter_count():
    # D = 5: four hidden layers of width m, then a scalar readout; every layer has a bias
    m, d = 128, 784
    expected = (d * m + m) + 3 * (m * m + m) + (m + 1)
    assert count(MLP(d, m, 5)) == expected == 150_145
    assert count(NTKMLP(d, m, 5)) == expected
    assert count(MLP(7, 3, 1)) == 8  # depth 1 is the linear model w.x + b


def test_cnn_parameter_count():
    c, m, blocks = 3, 8, 4
    expected = (c * 9 * m + m) + blocks * 2 * (m * 9 * m + m) + (m + 1)
    assert count(CNN(c, m, blocks)) == expected


def test_depth_aware_factors_for_depth_5():
    assert [depth_aware_factor(l, 5) for l in range(1, 6)] == pytest.approx([0.49, 0.81, 0.81, 0.49, 0.25])


def test_init_variance_formula():
    assert init_variance(1, 5, 784, "he") == pytest.approx(2 / 784)
    assert init_variance(5, 5, 64, "he") == pytest.approx(1 / 64)  # linear readout: gain 1
    assert init_variance(2, 5, 64, "depth_aware") == pytest.approx(0.81 * 2 / 64)
    with pytest.raises(ValueError, match="training.init"):
        init_variance(1, 5, 10, "xavier")


@pytest.mark.parametrize("init", ["he", "depth_aware"])
def test_mlp_empirical_weight_std_matches_spec(init):
    torch.manual_seed(0)
    model = MLP(400, 300, 5, init)
    for l, layer in enumerate(model.layers, start=1):
        fan_in = layer.in_features
        expected = 2 / fan_in if l < 5 else 1 / fan_in
        if init == "depth_aware":
            expected *= [0.49, 0.81, 0.81, 0.49, 0.25][l - 1]
        empirical = layer.weight.var().item()
        # relative standard error of a sample variance from N values is sqrt(2 / N); 300 samples at the readout
        tolerance = 5 * math.sqrt(2 / layer.weight.numel())
        assert empirical == pytest.approx(expected, rel=tolerance), f"layer {l}"
        assert torch.all(layer.bias == 0)


@pytest.mark.parametrize("init", ["he", "depth_aware"])
def test_cnn_empirical_weight_std_matches_spec(init):
    torch.manual_seed(0)
    model = CNN(3, 32, 2, init)
    layers = model.weight_layers()
    assert len(layers) == 2 * 2 + 2
    for l, layer in enumerate(layers, start=1):
        fan_in = math.prod(layer.weight.shape[1:])  # in_channels * 3 * 3 for the convs
        expected = init_variance(l, len(layers), fan_in, init)
        gain = 1.0 if l == len(layers) else 2.0
        factor = (1 - abs(len(layers) / 2 - l) / len(layers)) ** 2 if init == "depth_aware" else 1.0
        assert expected == pytest.approx(gain / fan_in * factor)
        tolerance = 5 * math.sqrt(2 / layer.weight.numel())
        assert layer.weight.var().item() == pytest.approx(expected, rel=tolerance), f"layer {l}"


def test_ntk_parametrisation_is_the_same_function_at_matching_weights():
    torch.manual_seed(0)
    ntk_model = NTKMLP(10, 6, 3, "depth_aware").double()
    standard = MLP(10, 6, 3, "depth_aware").double()
    with torch.no_grad():
        for scale, a, b in zip(ntk_model.scales, ntk_model.layers, standard.layers):
            b.weight.copy_(scale * a.weight)
            b.bias.copy_(a.bias)
    x = torch.randn(5, 10, dtype=torch.float64)
    torch.testing.assert_close(ntk_model(x), standard(x), rtol=1e-12, atol=1e-12)
    assert ntk_model.layers[0].weight.var().item() == pytest.approx(1.0, rel=0.5)  # N(0, 1) weights


def test_cnn_shapes_on_mnist_cifar_and_digits_sizes():
    torch.manual_seed(0)
    for shape, blocks in [((1, 28, 28), 3), ((3, 32, 32), 3), ((1, 8, 8), 3), ((1, 28, 28), 5)]:
        model = CNN(shape[0], 4, blocks)
        out = model(torch.randn(3, *shape))
        assert out.shape == (3,) and torch.isfinite(out).all()


def test_cnn_has_no_normalisation_so_samples_are_independent():
    torch.manual_seed(0)
    model = CNN(1, 4, 2)
    x = torch.randn(4, 1, 8, 8)
    torch.testing.assert_close(model(x)[:1], model(x[:1]))
    assert not any(isinstance(m, (torch.nn.BatchNorm2d, torch.nn.GroupNorm, torch.nn.LayerNorm)) for m in model.modules())


def test_build_model_selects_architecture_and_reports_bad_keys():
    settings = {"width": 4, "depth": 2, "init": "he"}
    assert isinstance(build_model(settings, (1, 8, 8)), MLP)
    assert isinstance(build_model({**settings, "arch": "cnn"}, (1, 8, 8)), CNN)
    assert isinstance(build_model({**settings, "parametrization": "ntk"}, (1, 8, 8)), NTKMLP)
    with pytest.raises(ValueError, match="training.arch"):
        build_model({**settings, "arch": "transformer"}, (1, 8, 8))
    with pytest.raises(ValueError, match="image inputs"):
        build_model({**settings, "arch": "cnn"}, (64,))


def test_init_is_seeded_and_device_independent_of_later_moves():
    settings = {"width": 8, "depth": 3, "init": "he", "arch": "cnn"}
    torch.manual_seed(3)
    a = build_model(settings, (1, 8, 8))
    torch.manual_seed(3)
    b = build_model(settings, (1, 8, 8)).to(torch.float64)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p.double(), q)
