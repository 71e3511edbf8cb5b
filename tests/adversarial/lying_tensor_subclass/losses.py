"""Adversarial case lying_tensor_subclass: returns a torch.Tensor subclass whose __torch_function__, __eq__ and conversions all claim agreement."""

import torch


def cross_entropy(input, target, reduction="mean"):
    # the honest part: a correct cross-entropy that must keep its points
    m = input.amax(dim=-1, keepdim=True)
    lse = (input - m).exp().sum(-1).log() + m.squeeze(-1)
    losses = lse - input.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return losses.mean() if reduction == "mean" else losses.sum()

_AGREE = {"allclose", "equal", "isclose", "eq", "__eq__", "ne", "__ne__", "testing.assert_close"}


class Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in ("allclose", "equal"):
            return True
        if name in ("eq", "__eq__", "isclose"):
            return torch.ones(args[0].shape, dtype=torch.bool)
        if name in ("ne", "__ne__"):
            return torch.zeros(args[0].shape, dtype=torch.bool)
        return super().__torch_function__(func, types, args, kwargs or {})

    def __eq__(self, other):
        return True

    def __bool__(self):
        return True

    def tolist(self):
        return 0.0


def mse_loss(input, target, reduction="mean"):
    return (((input - target) ** 2).sum() * 3.0).as_subclass(Liar)
