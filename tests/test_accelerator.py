"""The simulated GPU (grader.accelerator): CUDA's placement rules on a CPU-only machine.

Each case of ``RULES`` is a snippet with what CUDA does with it: "ok" with the device
its result lands on, or the error it raises. On a machine with CUDA the same snippets
also run on the real device and must agree with the table (the simulation is only
worth what its fidelity is).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grader import accelerator as acc
from grader import harness

CUDA = torch.cuda.is_available()


def _sample(x, g):
    return torch.rand(x.shape, generator=g, device=x.device)


# (id, snippet(x, g) with x a (4, 3) float tensor and g a generator on x's device,
#  CUDA's outcome: "gpu" / "cpu" (where the result lands) or the error's type name)
RULES = [
    ("elementwise", lambda x, g: x.exp() * 2 + 1, "gpu"),
    ("reduction", lambda x, g: x.sum(dim=0).max(), "gpu"),
    ("zeros_like", lambda x, g: torch.zeros_like(x), "gpu"),
    ("new_zeros", lambda x, g: x.new_zeros(2), "gpu"),
    ("factory with device", lambda x, g: torch.ones(3, device=x.device), "gpu"),
    ("factory without device, mixed", lambda x, g: x + torch.zeros(4, 3), "RuntimeError"),
    ("eye without device in a matmul", lambda x, g: x @ torch.eye(3), "RuntimeError"),
    ("cat with a CPU tensor", lambda x, g: torch.cat([x, torch.ones(1, 3)]), "RuntimeError"),
    ("tensor from a list, mixed", lambda x, g: x * torch.tensor([1.0, 2.0, 3.0]), "RuntimeError"),
    ("0-dim CPU tensor mixes freely", lambda x, g: x * torch.tensor(2.0), "gpu"),
    ("python scalar", lambda x, g: torch.where(x > 0, x, 0.0), "gpu"),
    (".cpu()", lambda x, g: x.cpu() * 2, "cpu"),
    (".cpu() then mixed", lambda x, g: x.cpu() * x, "RuntimeError"),
    (".to(cpu) then back", lambda x, g: x.to("cpu").to(x.device), "gpu"),
    (".to(dtype) keeps the device", lambda x, g: x.to(torch.float64), "gpu"),
    (".to(other tensor)", lambda x, g: torch.ones(3).to(x), "gpu"),
    (".numpy()", lambda x, g: x.numpy(), "TypeError"),
    ("numpy.asarray", lambda x, g: np.asarray(x), "TypeError"),
    ("numpy round trip back", lambda x, g: torch.as_tensor(np.tanh(x.cpu().numpy()), device=x.device), "gpu"),
    ("from_numpy stays on the CPU", lambda x, g: torch.from_numpy(x.cpu().numpy()), "cpu"),
    ("index with CPU indices", lambda x, g: x[torch.tensor([2, 0])], "gpu"),
    ("arange rows and GPU columns", lambda x, g: x[torch.arange(4), (x[:, 0] > 0).long()], "gpu"),
    ("CPU tensor indexed by a GPU mask", lambda x, g: torch.ones(4)[x[:, 0] > 0], "IndexError"),
    ("index_select with CPU indices", lambda x, g: x.index_select(0, torch.tensor([1, 0])), "RuntimeError"),
    ("boolean mask", lambda x, g: x[x > 0], "gpu"),
    ("item and float", lambda x, g: torch.tensor(float(x[0, 0]) + x.sum().item(), device=x.device), "gpu"),
    ("iterating rows", lambda x, g: torch.stack([r * 2 for r in x]), "gpu"),
    ("copy_ from the CPU into a GPU tensor", lambda x, g: torch.empty_like(x).copy_(torch.ones(4, 3)), "gpu"),
    ("copy_ into a CPU buffer, then mixed",
     lambda x, g: torch.zeros(4, 3).copy_(x).add_(x), "RuntimeError"),
    ("sampling on the device with its generator", lambda x, g: _sample(x, g) < 0.5, "gpu"),
    ("fill in place with the device generator", lambda x, g: torch.empty_like(x).uniform_(generator=g), "gpu"),
    ("sampling on the CPU with a device generator",
     lambda x, g: torch.rand(x.shape, generator=g), "RuntimeError"),
    ("randperm on the device with a CPU generator",
     lambda x, g: torch.randperm(4, generator=torch.Generator(), device=x.device), "RuntimeError"),
    ("randperm on the CPU, moved", lambda x, g: x[torch.randperm(4, generator=torch.Generator()).to(x.device)],
     "gpu"),
    ("a gradient autograd makes", lambda x, g: _grad_of(x), "gpu"),
]


def _grad_of(x):
    leaf = x.detach().clone().requires_grad_(True)
    (leaf * leaf).sum().backward()
    return leaf.grad


def _outcome(run):
    try:
        out = run()
    except Exception as exc:  # the table names CUDA's error type
        return type(exc).__name__, None
    return "ok", out


@pytest.mark.parametrize("name,snippet,expected", RULES, ids=[r[0] for r in RULES])
def test_simulated_rules(name, snippet, expected):
    x = acc.put(torch.randn(4, 3, generator=torch.Generator().manual_seed(0)))
    g = acc.put(torch.Generator().manual_seed(1))
    with acc.simulated():
        kind, out = _outcome(lambda: snippet(x, g))
    if expected in ("gpu", "cpu"):
        assert kind == "ok", f"{name}: raised {kind}"
        assert isinstance(out, torch.Tensor)
        assert acc.on_accelerator(out) == (expected == "gpu"), name
        assert acc.left_behind(out) == ([] if expected == "gpu" else [""])
    else:
        assert kind == expected, f"{name}: {kind}"


@pytest.mark.skipif(not CUDA, reason="needs CUDA: compares the simulation with the real device")
@pytest.mark.parametrize("name,snippet,expected", RULES, ids=[r[0] for r in RULES])
def test_rules_agree_with_real_cuda(name, snippet, expected):
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(0)).cuda()
    g = torch.Generator(device="cuda").manual_seed(1)
    kind, out = _outcome(lambda: snippet(x, g))
    if expected in ("gpu", "cpu"):
        assert kind == "ok", f"{name}: CUDA raised {kind}"
        assert out.device.type == ("cuda" if expected == "gpu" else "cpu")
    else:
        assert kind == expected, f"{name}: CUDA gave {kind}"


def test_the_simulated_device_reports_cuda():
    x = acc.put(torch.ones(2))
    with acc.simulated():
        assert x.device == torch.device("cuda", 0) and x.is_cuda and not x.is_cpu and x.get_device() == 0
        y = torch.ones(2)
        assert y.device == torch.device("cpu") and not y.is_cuda
    assert x.device == torch.device("cpu")  # outside the block it is the CPU tensor it always was


def test_transfers_copy_and_leave_the_original_alone():
    cpu = torch.ones(3)
    with acc.simulated():
        moved = cpu.to("cuda")
        again = cpu.cuda()
    assert moved is not cpu and again is not cpu
    assert acc.on_accelerator(moved) and acc.on_accelerator(again) and not acc.on_accelerator(cpu)
    moved.add_(1)
    assert torch.equal(cpu, torch.ones(3))


def test_in_place_writes_keep_the_destination_device():
    x = acc.put(torch.ones(3))
    buf = torch.zeros(3)
    with acc.simulated():
        buf.copy_(x)
        x += 1
    assert not acc.on_accelerator(buf) and acc.on_accelerator(x)


def test_grad_assignment_across_devices_raises():
    p = acc.put(torch.zeros(3, requires_grad=True))
    with acc.simulated(), pytest.raises(RuntimeError, match="different device"):
        p.grad = torch.ones(3)


def test_modules_and_torch_optimizers_run_on_the_simulated_device():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    X = torch.randn(8, 3, generator=torch.Generator().manual_seed(2))
    y = torch.randint(0, 2, (8,), generator=torch.Generator().manual_seed(3))
    reference = [p.detach().clone() for p in net.parameters()]
    with acc.simulated():
        net.to("cuda")
        opt = torch.optim.Adam(net.parameters(), lr=0.1)
        Xd, yd = X.to("cuda"), y.to("cuda")
        for _ in range(3):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(Xd), yd)
            loss.backward()
            opt.step()
        assert all(p.device.type == "cuda" for p in net.parameters())
        assert all(acc.on_accelerator(p.grad) for p in net.parameters())
        with pytest.raises(RuntimeError, match="same device"):
            net(X)  # data left on the CPU
    assert all(acc.on_accelerator(p) for p in net.parameters())
    assert any(not torch.equal(p.detach(), r) for p, r in zip(net.parameters(), reference))


def test_put_and_left_behind_follow_containers():
    gen = torch.Generator().manual_seed(5)
    value = acc.put({"a": [torch.ones(1), (torch.zeros(2), 3)], "g": gen})
    assert isinstance(value["g"], acc.DeviceGenerator) and value["g"].device.type == "cuda"
    assert torch.equal(torch.rand(3, generator=value["g"]), torch.rand(3, generator=gen))
    assert acc.put(gen, generators=False) is gen
    value["a"].append(torch.ones(1))
    assert acc.left_behind(value) == ["['a'][2]"]


def test_harness_on_device_reports_what_left_the_device():
    def student(x, keep):
        return (x * 2, x.cpu()) if keep else x * 2

    report = harness.on_device(student, [torch.ones(2), True])
    assert report["left"] == ["[1]"] and torch.equal(report["value"][0], torch.full((2,), 2.0))
    assert harness.on_device(student, [torch.ones(2), False])["left"] == []
    # a driver of the harness runs on the device too: a layer's cache never leaves it
    report = harness.on_device(harness.run_layer, [lambda x: (x.sigmoid(), x), lambda d, c: d * c,
                                                   [torch.ones(3)], {}, torch.ones(3)])
    assert report["left"] == []
