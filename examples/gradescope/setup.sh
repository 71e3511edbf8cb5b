#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image. The
# autograder zip's contents are in /autograder/source (see docs/gradescope.md).
set -euo pipefail

# A CPU-only torch keeps the image small: set this to PyTorch's CPU wheel index (from
# PyTorch's installation page). Left empty, pip's default index is used.
TORCH_INDEX_URL=""

apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv

# Under /opt, readable by every user: the sandbox runs student code under a dedicated
# uid, which could not import a Python installed in root's home.
python3 -m venv /opt/nn-grader
/opt/nn-grader/bin/pip install --no-cache-dir ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "torch==2.13.0"
/opt/nn-grader/bin/pip install --no-cache-dir /autograder/source/nn_grader-*.whl

# The reference, the rubric and the hidden suites: for root (the grader) only, so the
# worker's uid cannot read them even where the sandbox's private file view is missing.
chmod -R go-rwx /autograder/source/course
