#!/usr/bin/env bash
# Build the Gradescope autograder zip from the course's committed files.
# Run from the course repository's root:  bash examples/gradescope/build_zip.sh [autograder.zip]
#
# autograder.zip
#   setup.sh, run_autograder        Gradescope's two entry points
#   nn_grader-<version>-*.whl       the grader, as students' wheel (no course material)
#   course/reference/               the reference modules, rubric.yaml and suites/
set -euo pipefail
out="$(realpath -m -- "${1:-autograder.zip}")"
here="$(cd -- "$(dirname -- "$0")" && pwd)"
stage="$(mktemp -d)"
trap 'rm -rf -- "$stage"' EXIT

mkdir -p "$stage/src" "$stage/zip/course"
git archive --format=tar HEAD | tar -x -C "$stage/src"  # built outside the checkout
python -m pip wheel --no-deps -q -w "$stage/zip" "$stage/src"
git archive --format=tar HEAD reference | tar -x -C "$stage/zip/course"
install -m 0755 "$here/setup.sh" "$here/run_autograder" "$stage/zip/"

rm -f -- "$out"
python - "$stage/zip" "$out" <<'PY'
import os, sys, zipfile
root, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            zf.write(path, os.path.relpath(path, root))  # keeps the mode: run_autograder stays executable
PY
echo "wrote $out"
