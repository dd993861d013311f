#!/usr/bin/env bash
# The API contract checks: `buf lint` (buf.yaml: STANDARD) and `buf breaking` (FILE rules)
# against two baselines:
#   1. clients/contract/baseline/: the released netpilot.v1 contract, stored in the repo,
#      so the check works in any clone (CI clones one branch, without history). Moving it
#      forward is a deliberate act: `make contract-baseline`.
#   2. the merge base with main (or origin/main), when the clone has one: neither a branch
#      nor uncommitted edits may break what main has, even before a release. Skipped,
#      saying so, in a clone without such a base.
# Additive changes (new fields, messages, enum values, RPCs) pass both.
# Usage: clients/contract/check.sh TOOLS_DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tools=$(cd "${1:?usage: check.sh TOOLS_DIR}" && pwd)
buf=$tools/bin/buf
[ -x "$buf" ] || { echo "contract: $buf missing: run clients/deps.sh $tools" >&2; exit 1; }
cd "$root"

"$buf" lint
echo "contract: buf lint: clean"

"$buf" breaking proto --against clients/contract/baseline
echo "contract: buf breaking against clients/contract/baseline: no breaking change"

base=""
if git rev-parse --git-dir >/dev/null 2>&1; then
  for ref in main origin/main; do
    if git rev-parse --verify -q "$ref^{commit}" >/dev/null; then
      base=$(git merge-base HEAD "$ref" 2>/dev/null || true)
      [ -n "$base" ] && break
    fi
  done
fi
if [ -z "$base" ]; then
  echo "contract: no merge base with main in this clone: checked against the stored baseline only"
elif ! git cat-file -e "$base:proto" 2>/dev/null; then
  echo "contract: the merge base ${base:0:12} has no proto/: checked against the stored baseline only"
else
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  git archive "$base" proto | tar -x -C "$tmp"
  "$buf" breaking proto --against "$tmp/proto"
  echo "contract: buf breaking against the merge base with main (${base:0:12}): no breaking change"
fi
