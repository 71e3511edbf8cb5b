"""Public self-checks for init.py.

Fans and gains are compared with torch.nn.init itself. The random initializers are
checked only for what any correct implementation satisfies (your samples need not equal
torch's): every value within the bound, the largest one close to it, and the mean and
standard deviation within about seven standard errors of the intended ones, so a correct
solution fails with negligible probability. The hidden suite checks many more shapes
(convolutions of every dimension), modes, nonlinearities and dtypes, the shape of the
distributions, and what the initializers do to a 30-layer network.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.init as tinit


def _fresh(shape, dtype, device):
    return torch.full(shape, math.nan, dtype=dtype, device=device)


def _gen(device, seed=0):
    return torch.Generator(device=device).manual_seed(seed)


@pytest.mark.parametrize("shape", [(7, 3), (8, 6, 3, 3), (4, 2, 3, 5, 2)], ids=["linear", "conv2d", "conv3d"])
def test_fans(student, check, shape):
    t = torch.zeros(shape)
    check.equal(student.init.calculate_fan_in_and_fan_out(t), tinit._calculate_fan_in_and_fan_out(t),
                hint="fan_in = shape[1] * prod(shape[2:]), fan_out = shape[0] * prod(shape[2:])")


def test_fans_need_two_dims(student, check):
    with check.raises(ValueError):
        student.init.calculate_fan_in_and_fan_out(torch.zeros(5))


@pytest.mark.parametrize("nonlinearity,param", [("linear", None), ("tanh", None), ("relu", None),
                                                ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None)])
def test_calculate_gain(student, check, nonlinearity, param):
    kwargs = {} if param is None else {"param": param}
    check.close(student.init.calculate_gain(nonlinearity, **kwargs), float(tinit.calculate_gain(nonlinearity, param)))


def test_zeros_and_constant(student, check, device, dtype):
    t = torch.randn(3, 4, dtype=dtype).to(device)
    check.equal(student.init.zeros_(t.clone()), torch.zeros(3, 4, dtype=dtype, device=device))
    check.equal(student.init.constant_(t.clone(), val=0.5), torch.full((3, 4), 0.5, dtype=dtype, device=device))


def _check_uniform(check, what, x, low, high):
    x = x.detach().double().cpu().reshape(-1)
    n, width = x.numel(), high - low
    check.that(bool(torch.isfinite(x).all()), f"{what}: some values are nan or inf")
    check.that(float(x.min()) >= low - 1e-6 * width and float(x.max()) <= high + 1e-6 * width,
               f"{what}: values outside the interval [{low:.4g}, {high:.4g}]")
    check.that(float(x.max()) > high - 30 * width / n and float(x.min()) < low + 30 * width / n,
               f"{what}: the values do not reach the ends of the interval [{low:.4g}, {high:.4g}]")
    check.that(abs(float(x.mean()) - (low + high) / 2) < 7 * width / math.sqrt(12 * n),
               f"{what}: the mean is far from the interval's centre")


def _check_normal(check, what, x, mean, std):
    x = x.detach().double().cpu().reshape(-1)
    n = x.numel()
    check.that(bool(torch.isfinite(x).all()), f"{what}: some values are nan or inf")
    check.that(abs(float(x.mean()) - mean) < 7 * std / math.sqrt(n), f"{what}: the mean is off")
    sd = math.sqrt(float(((x - mean) ** 2).mean()))
    check.that(abs(sd / std - 1) < 7 / math.sqrt(2 * n),
               f"{what}: the standard deviation is {sd / std:.3g} times the intended one")


def test_uniform_and_normal(student, check, device, dtype):
    x = student.init.uniform_(_fresh((100, 100), dtype, device), a=-2.0, b=3.0, generator=_gen(device))
    _check_uniform(check, "uniform_(t, a=-2, b=3)", x, -2.0, 3.0)
    x = student.init.normal_(_fresh((100, 100), dtype, device), mean=1.0, std=0.5, generator=_gen(device))
    _check_normal(check, "normal_(t, mean=1, std=0.5)", x, 1.0, 0.5)


def test_fan_in_uniform(student, check, device, dtype):
    bound = 1 / math.sqrt(160)  # torch.nn.Linear(160, 96)'s weight and bias bound
    x = student.init.fan_in_uniform_(_fresh((96, 160), dtype, device), generator=_gen(device))
    _check_uniform(check, "fan_in_uniform_(t of shape (96, 160))", x, -bound, bound)
    x = student.init.fan_in_uniform_(_fresh((10000,), dtype, device), fan_in=160, generator=_gen(device))
    _check_uniform(check, "fan_in_uniform_(bias of shape (10000,), fan_in=160)", x, -bound, bound)


def test_xavier(student, check, device, dtype):
    shape, gain = (32, 16, 5, 5), 5 / 3          # fan_in = 400, fan_out = 800
    std = gain * math.sqrt(2 / (400 + 800))
    x = student.init.xavier_uniform_(_fresh(shape, dtype, device), gain=gain, generator=_gen(device))
    _check_uniform(check, "xavier_uniform_(t of shape (32, 16, 5, 5), gain=5/3)", x, -math.sqrt(3) * std,
                   math.sqrt(3) * std)
    x = student.init.xavier_normal_(_fresh((256, 64), dtype, device), generator=_gen(device))
    _check_normal(check, "xavier_normal_(t of shape (256, 64))", x, 0.0, math.sqrt(2 / (64 + 256)))


def test_kaiming(student, check, device, dtype):
    # default: a = 0, mode = "fan_in", nonlinearity = "leaky_relu" -> gain sqrt(2), fan_in = 400
    x = student.init.kaiming_uniform_(_fresh((160, 400), dtype, device), generator=_gen(device))
    bound = math.sqrt(2) * math.sqrt(3 / 400)
    _check_uniform(check, "kaiming_uniform_(t of shape (160, 400))", x, -bound, bound)
    # mode = "fan_out": fan_out = 40 * 9 = 360
    x = student.init.kaiming_normal_(_fresh((40, 64, 3, 3), dtype, device), mode="fan_out", nonlinearity="relu",
                                     generator=_gen(device))
    _check_normal(check, "kaiming_normal_(t of shape (40, 64, 3, 3), mode='fan_out', nonlinearity='relu')",
                  x, 0.0, math.sqrt(2) / math.sqrt(360))


def test_in_place_and_generator(student, check, device, dtype):
    """The same tensor comes back, a parameter stays a leaf, and the generator alone
    decides the values."""
    runs = [{"seed": 3, "requires_grad": True, "global_seed": 1}, {"seed": 3, "global_seed": 2}, {"seed": 4}]
    reports = student.harness.run_init(student.init.kaiming_uniform_, (20, 30), {}, runs, dtype=dtype,
                                       device=device)
    check.that(reports[0]["same_object"], "kaiming_uniform_ must fill t in place and return t itself")
    check.that(reports[0]["is_leaf"] and reports[0]["requires_grad"] and not reports[0]["has_grad_fn"],
               "kaiming_uniform_ on a parameter (a leaf that requires grad) must leave it a leaf",
               "fill it inside torch.no_grad()")
    check.that(bool(torch.equal(reports[0]["values"], reports[1]["values"])),
               "the same generator seed must give the same values, whatever torch's global seed",
               "draw only from the generator argument, never from torch's global random generator")
    check.that(not bool(torch.equal(reports[1]["values"], reports[2]["values"])),
               "different generator seeds must give different values")
