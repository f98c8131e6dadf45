#!/usr/bin/env bash
# Generates python/cuframes/_core.pyi from the built extension (pybind11-stubgen),
# so that the stub says what the module has. With --check, generates into a
# temporary folder and fails when the committed stub differs (scripts/lint.sh, CI).
# Needs cuframes installed in $PYTHON's environment (scripts/test.sh does it).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# Pinned: another version words the same module differently.
STUBGEN_VERSION=3.0.0
if ! "$PYTHON" -m pybind11_stubgen --help >/dev/null 2>&1 ||
    [ "$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("pybind11-stubgen"))' 2>/dev/null)" != "$STUBGEN_VERSION" ]; then
    "$PYTHON" -m pip install -q "pybind11-stubgen==$STUBGEN_VERSION"
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Run from the temporary folder: the installed package, not python/cuframes of the checkout.
(cd "$out" && "$PYTHON" -m pybind11_stubgen --exit-code -o "$out" cuframes._core)
generated=$out/cuframes/_core.pyi
if [ "${1:-}" = "--check" ]; then
    if ! diff -u python/cuframes/_core.pyi "$generated"; then
        echo "gen-stubs: python/cuframes/_core.pyi differs from the built cuframes._core (above);" \
            "run scripts/gen-stubs.sh and commit the result" >&2
        exit 1
    fi
    echo "gen-stubs: python/cuframes/_core.pyi matches the built module"
else
    cp "$generated" python/cuframes/_core.pyi
    echo "gen-stubs: wrote python/cuframes/_core.pyi"
fi
