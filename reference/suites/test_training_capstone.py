"""Convergence capstone: a multilayer perceptron on scikit-learn's digits, trained with the
student's own init, backprop, batchnorm, dropout and Adam (see grader/capstone.py).

The score is the test accuracy reached within the rubric's budget (``settings.capstone``)
against the reference pipeline's, on the same split and with the same seeds. The run in
the worker reports only weights, gradients and dropout masks; the grader checks every
step against Adam's rule and a sample of the gradients against the reference network,
and computes the accuracy itself (see grader/capstone_grading.py). When the student's
pipeline falls short, each module is swapped for the reference in turn and the feedback
names the one that recovers the accuracy. Both loss curves are kept in the results for
plotting.
"""

import torch

from grader import capstone, capstone_grading

_SPEC_KEYS = {"hidden", "epochs", "batch_size", "lr", "dropout"}


def test_capstone_digits(student, reference, check, gen, settings):
    options = dict(settings.get("capstone", {}))
    slack = float(options.pop("slack", 0.03))
    spec_options = {k: v for k, v in options.items() if k in _SPEC_KEYS}
    seed = int(torch.randint(0, 2**20, (1,), generator=gen))
    spec = capstone.PipelineSpec(seed=seed, **spec_options)
    report = capstone_grading.evaluate(student, reference, spec, data_seed=seed, slack=slack)
    check.record(metrics=report.metrics, curves=report.curves)
    if report.credit < 1.0:
        check.credit(report.credit, report.message, hint=report.hint)
