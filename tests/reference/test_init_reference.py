"""Proof tests for reference/init.py: torch.nn.init is the oracle.

The reference samples with the same torch primitives (Tensor.uniform_ / Tensor.normal_
with the generator) and computes its bounds with the same formulas, so with equally
seeded generators its tensors equal torch.nn.init's element for element. The hidden
suite does not rely on that: it grades the distributions only.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.init as tinit

from reference import init as ref

DTYPES = [torch.float64, torch.float32]
SHAPES = [(7, 3), (3, 7), (5, 4, 3), (8, 6, 3, 3), (4, 2, 3, 5, 2), (16, 1, 1, 1), (1, 9)]
SHAPE_IDS = ["x".join(map(str, s)) for s in SHAPES]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------- fans, gains

@pytest.mark.parametrize("shape", SHAPES + [(6, 3, 1, 4, 1, 2)], ids=SHAPE_IDS + ["6-D"])
def test_fans_match_torch(shape):
    t = torch.empty(shape)
    got = ref.calculate_fan_in_and_fan_out(t)
    assert got == tinit._calculate_fan_in_and_fan_out(t)
    assert all(type(v) is int for v in got)


@pytest.mark.parametrize("shape", [(5,), (), (0,)], ids=["1-D", "0-D", "empty-1-D"])
def test_fans_reject_fewer_than_two_dims(shape):
    t = torch.empty(shape)
    with pytest.raises(ValueError):
        tinit._calculate_fan_in_and_fan_out(t)
    with pytest.raises(ValueError, match="dimension"):
        ref.calculate_fan_in_and_fan_out(t)


GAIN_NAMES = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid", "tanh", "relu", "selu", "leaky_relu"]


@pytest.mark.parametrize("name", GAIN_NAMES)
def test_gain_matches_torch(name):
    for param in (None, 0, 0.2, 3, -0.5, 1.0):
        want = tinit.calculate_gain(name, param)
        got = ref.calculate_gain(name, param)
        assert isinstance(got, float)
        assert got == pytest.approx(want, rel=1e-15, abs=0), param


def test_gain_defaults():
    assert ref.calculate_gain("leaky_relu") == math.sqrt(2.0 / (1 + 0.01 ** 2))
    assert ref.calculate_gain("relu") == math.sqrt(2.0)
    assert ref.calculate_gain("tanh") == 5.0 / 3


@pytest.mark.parametrize("name,param", [("softmax", None), ("gelu", None), ("ReLU", None), ("", None),
                                        ("leaky_relu", "0.1"), ("leaky_relu", True), ("leaky_relu", [0.1])])
def test_gain_errors_match_torch(name, param):
    with pytest.raises(ValueError):
        tinit.calculate_gain(name, param)
    with pytest.raises(ValueError, match="nonlinearity|param"):
        ref.calculate_gain(name, param)


# ------------------------------------------------------------ same values as torch

def _pair(shape, dtype):
    return torch.empty(shape, dtype=dtype), torch.empty(shape, dtype=dtype)


def _assert_same(a: torch.Tensor, b: torch.Tensor) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("kwargs", [{}, {"a": -2.0, "b": 3.0}, {"a": 1.5, "b": 1.5}], ids=["default", "a-b", "a=b"])
def test_uniform_matches_torch(dtype, kwargs):
    mine, theirs = _pair((40, 30), dtype)
    out = ref.uniform_(mine, **kwargs, generator=_gen(1))
    tinit.uniform_(theirs, **kwargs, generator=_gen(1))
    assert out is mine
    _assert_same(mine, theirs)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("kwargs", [{}, {"mean": 3.0, "std": 0.5}, {"mean": -1.0, "std": 0.0}],
                         ids=["default", "mean-std", "std0"])
def test_normal_matches_torch(dtype, kwargs):
    mine, theirs = _pair((40, 30), dtype)
    out = ref.normal_(mine, **kwargs, generator=_gen(2))
    tinit.normal_(theirs, **kwargs, generator=_gen(2))
    assert out is mine
    _assert_same(mine, theirs)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_zeros_and_constant_match_torch(dtype):
    mine, theirs = torch.randn(4, 5, dtype=dtype), torch.randn(4, 5, dtype=dtype)
    assert ref.zeros_(mine) is mine
    _assert_same(mine, tinit.zeros_(theirs))
    for val in (0.25, -3, 7.5):
        assert ref.constant_(mine, val) is mine
        _assert_same(mine, tinit.constant_(theirs, val))


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name,kwargs", [("xavier_uniform_", {}), ("xavier_uniform_", {"gain": 5 / 3}),
                                         ("xavier_normal_", {}), ("xavier_normal_", {"gain": 0.5})],
                         ids=["xu", "xu-gain", "xn", "xn-gain"])
def test_xavier_matches_torch(dtype, name, kwargs):
    for shape in SHAPES:
        mine, theirs = _pair(shape, dtype)
        out = getattr(ref, name)(mine, **kwargs, generator=_gen(3))
        getattr(tinit, name)(theirs, **kwargs, generator=_gen(3))
        assert out is mine
        _assert_same(mine, theirs)


KAIMING_KWARGS = [{}, {"a": 0.3}, {"a": math.sqrt(5)}, {"mode": "fan_out"}, {"nonlinearity": "relu"},
                  {"a": 0.2, "mode": "fan_out", "nonlinearity": "leaky_relu"},
                  {"mode": "fan_out", "nonlinearity": "tanh"}, {"nonlinearity": "linear"},
                  {"nonlinearity": "selu"}, {"nonlinearity": "sigmoid"}, {"mode": "FAN_OUT"}]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("kwargs", KAIMING_KWARGS, ids=lambda k: "-".join(f"{a}{b}" for a, b in k.items()) or "default")
@pytest.mark.parametrize("name", ["kaiming_uniform_", "kaiming_normal_"])
def test_kaiming_matches_torch(dtype, kwargs, name):
    for shape in SHAPES:
        mine, theirs = _pair(shape, dtype)
        out = getattr(ref, name)(mine, **kwargs, generator=_gen(4))
        getattr(tinit, name)(theirs, **kwargs, generator=_gen(4))
        assert out is mine
        _assert_same(mine, theirs)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("shape", [(20, 30), (8, 6, 3, 3), (12, 5, 7)], ids=["linear", "conv2d", "conv1d"])
def test_fan_in_uniform_is_torch_layer_default(dtype, shape):
    """torch.nn.Linear / ConvNd initialise their weight with kaiming_uniform_(a=sqrt(5)),
    i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and their bias with that same bound."""
    fan_in = tinit._calculate_fan_in_and_fan_out(torch.empty(shape))[0]
    mine, theirs = _pair(shape, dtype)
    ref.fan_in_uniform_(mine, generator=_gen(5))
    tinit.kaiming_uniform_(theirs, a=math.sqrt(5), generator=_gen(5))
    # the two bounds are 1/sqrt(f) and sqrt(3) * sqrt(1/3) / sqrt(f): equal up to rounding
    torch.testing.assert_close(mine, theirs, rtol=1e-6 if dtype == torch.float32 else 1e-14, atol=0)
    bias_mine, bias_theirs = torch.empty(shape[0], dtype=dtype), torch.empty(shape[0], dtype=dtype)
    bound = 1 / math.sqrt(fan_in)
    ref.fan_in_uniform_(bias_mine, fan_in=fan_in, generator=_gen(6))
    tinit.uniform_(bias_theirs, -bound, bound, generator=_gen(6))
    _assert_same(bias_mine, bias_theirs)


def test_torch_layers_use_the_fan_in_bound():
    """The bound itself, on real torch layers: every weight and bias within 1/sqrt(fan_in),
    and the largest |w| of a large layer close to it."""
    torch.manual_seed(0)
    for layer, fan_in in ((torch.nn.Linear(300, 200), 300), (torch.nn.Conv2d(16, 64, 3), 144)):
        bound = 1 / math.sqrt(fan_in)
        for p in (layer.weight, layer.bias):
            assert float(p.detach().abs().max()) <= bound
        assert float(layer.weight.detach().abs().max()) > bound * (1 - 1e-3)
        w = torch.empty_like(layer.weight)
        ref.fan_in_uniform_(w, generator=_gen(7))
        assert float(w.abs().max()) <= bound and float(w.abs().max()) > bound * (1 - 1e-3)


# --------------------------------------------------------- global RNG, None, in place

@pytest.mark.parametrize("name,kwargs", [("uniform_", {}), ("normal_", {}), ("fan_in_uniform_", {}),
                                         ("xavier_uniform_", {}), ("xavier_normal_", {}),
                                         ("kaiming_uniform_", {}), ("kaiming_normal_", {})])
def test_generator_none_uses_the_global_rng_like_torch(name, kwargs):
    torch.manual_seed(11)
    mine = getattr(ref, name)(torch.empty(30, 20), **kwargs)
    torch.manual_seed(11)
    theirs = (getattr(tinit, name) if name != "fan_in_uniform_" else
              (lambda t: tinit.kaiming_uniform_(t, a=math.sqrt(5))))(torch.empty(30, 20), **kwargs)
    torch.testing.assert_close(mine, theirs, rtol=1e-6, atol=0)
    state = torch.random.get_rng_state()
    getattr(ref, name)(torch.empty(30, 20), **kwargs, generator=_gen(1))
    assert torch.equal(state, torch.random.get_rng_state()), "a generator was given: global RNG untouched"


@pytest.mark.parametrize("name,kwargs", [("uniform_", {}), ("normal_", {}), ("zeros_", {}),
                                         ("constant_", {"val": 0.5}), ("fan_in_uniform_", {}),
                                         ("xavier_uniform_", {}), ("xavier_normal_", {}),
                                         ("kaiming_uniform_", {}), ("kaiming_normal_", {})])
def test_in_place_on_leaf_and_views(name, kwargs):
    w = torch.empty(6, 10, requires_grad=True)
    out = getattr(ref, name)(w, **kwargs)
    assert out is w and w.is_leaf and w.requires_grad and w.grad_fn is None
    base = torch.full((10, 6), math.nan)
    getattr(ref, name)(base.T, **kwargs)
    assert bool(torch.isfinite(base).all())
    base = torch.full((6, 20), math.nan)
    getattr(ref, name)(base[:, ::2], **kwargs)
    assert bool(torch.isfinite(base[:, ::2]).all()) and bool(torch.isnan(base[:, 1::2]).all())


def test_grad_mode_is_restored():
    w = torch.empty(4, 4, requires_grad=True)
    ref.kaiming_normal_(w)
    assert torch.is_grad_enabled()
    assert (w * 2).sum().requires_grad


def test_zero_element_tensors_like_torch():
    for name in ("kaiming_uniform_", "kaiming_normal_"):
        for shape in [(0,), (0, 5), (3, 0, 2)]:  # torch returns these unchanged, even 1-D
            t = torch.empty(shape)
            assert getattr(ref, name)(t) is t
            with pytest.warns(UserWarning, match="no-op"):
                assert getattr(tinit, name)(torch.empty(shape)).shape == t.shape
    t = torch.empty(0, 5)
    assert ref.xavier_uniform_(t) is t and ref.fan_in_uniform_(t) is t


# ------------------------------------------------------------------ bad arguments

@pytest.mark.parametrize("call,match", [
    (lambda: ref.uniform_(torch.empty(3), a=1.0, b=0.0), "a"),
    (lambda: ref.uniform_(torch.empty(3), a=math.nan), "a"),
    (lambda: ref.normal_(torch.empty(3), std=-1.0), "std"),
    (lambda: ref.normal_(torch.empty(3), mean=math.inf), "mean"),
    (lambda: ref.kaiming_uniform_(torch.empty(3, 4), mode="fan_avg"), "mode"),
    (lambda: ref.kaiming_normal_(torch.empty(3, 4), nonlinearity="softmax"), "nonlinearity"),
    (lambda: ref.kaiming_normal_(torch.empty(3, 4), a="x"), "param"),
    (lambda: ref.kaiming_uniform_(torch.empty(4)), "dimension"),
    (lambda: ref.fan_in_uniform_(torch.empty(5)), "dimension"),
    (lambda: ref.fan_in_uniform_(torch.empty(3, 4), fan_in=0), "fan_in"),
    (lambda: ref.fan_in_uniform_(torch.empty(3, 4), fan_in=2.5), "fan_in"),
    (lambda: ref.xavier_uniform_(torch.empty(5)), "dimension"),
    (lambda: ref.xavier_normal_(torch.empty(3, 4), gain=-1.0), "gain"),
    (lambda: ref.constant_(torch.empty(3), val="1"), "val"),
    (lambda: ref.uniform_(torch.empty(3, dtype=torch.int64)), "floating"),
    (lambda: ref.zeros_([1.0, 2.0]), "Tensor"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_torch_also_rejects_what_the_reference_rejects():
    """Where torch accepts, so does the reference; these torch rejects too (other types)."""
    with pytest.raises(RuntimeError):
        torch.empty(3).uniform_(1.0, 0.0)
    with pytest.raises(RuntimeError):
        tinit.normal_(torch.empty(3), std=-1.0)
    with pytest.raises(ValueError):
        tinit.kaiming_uniform_(torch.empty(3, 4), mode="fan_avg")
    with pytest.raises(ValueError):
        tinit.xavier_uniform_(torch.empty(5))
    with pytest.raises(RuntimeError):
        tinit.xavier_normal_(torch.empty(3, 4), gain=-1.0)


@pytest.mark.parametrize("device", ["cuda"] if torch.cuda.is_available() else [])
def test_cuda_keeps_device_and_matches_torch(device):
    for name in ("uniform_", "normal_", "xavier_uniform_", "kaiming_normal_"):
        mine = torch.empty(64, 32, device=device)
        theirs = torch.empty(64, 32, device=device)
        getattr(ref, name)(mine, generator=torch.Generator(device).manual_seed(3))
        getattr(tinit, name)(theirs, generator=torch.Generator(device).manual_seed(3))
        assert mine.device.type == device
        _assert_same(mine, theirs)
