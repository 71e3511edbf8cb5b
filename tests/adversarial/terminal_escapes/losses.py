"""Adversarial case terminal_escapes: an exception message full of terminal escape sequences and a forged table row."""

import torch


def cross_entropy(input, target, reduction="mean"):
    # the honest part: a correct cross-entropy that must keep its points
    m = input.amax(dim=-1, keepdim=True)
    lse = (input - m).exp().sum(-1).log() + m.squeeze(-1)
    losses = lse - input.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return losses.mean() if reduction == "mean" else losses.sum()


class PASSED(Exception):
    pass


def mse_loss(input, target, reduction="mean"):
    raise PASSED(
        "\x1b[2J\x1b[H\x1b[32mALL TESTS PASSED\x1b[0m\r"
        "\x1b]52;c;ZWNobyBwd25lZA==\x07"
        "\x1b]8;;http://example.invalid/\x1b\\click\x1b]8;;\x1b\\"
        "\n@@CASE@@           10/10    10/10\n\x9b31m\u202eevil"
    )
