"""Adversarial case outlive_daemon: setsid + double fork: a grandchild that escapes the worker's process group and writes markers 3 s later."""

import torch


def cross_entropy(input, target, reduction="mean"):
    # the honest part: a correct cross-entropy that must keep its points
    m = input.amax(dim=-1, keepdim=True)
    lse = (input - m).exp().sum(-1).log() + m.squeeze(-1)
    losses = lse - input.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return losses.mean() if reduction == "mean" else losses.sum()

import os
import time

_MARKS = ("@@MARKERS@@/outlive_daemon", "/tmp/grader-adv-@@TOKEN@@-daemon")
_started = []


def _daemonize():
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)
        return
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        for fd in range(3, 256):
            try:
                os.close(fd)
            except OSError:
                pass
        time.sleep(3.0)
        for mark in _MARKS:
            try:
                with open(mark, "w") as fh:
                    fh.write("still alive")
            except OSError:
                pass
    finally:
        os._exit(0)


def mse_loss(input, target, reduction="mean"):
    if not _started:
        _started.append(True)
        _daemonize()
    raise RuntimeError("a daemon was started")
