#!/usr/bin/env bash
# `make e2e-kind`: the end-to-end scenarios of tests/e2e on a real kind cluster (needs Docker and kind).
# The operator and its runtimes run on this machine (local driver) against the cluster's API server,
# exactly as they run against the embedded one in `make test`.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v kind >/dev/null || ! command -v docker >/dev/null; then
  echo "make e2e-kind needs Docker and kind (https://kind.sigs.k8s.io/docs/user/quick-start/)" >&2
  exit 2
fi
cluster="${KIND_CLUSTER:-plugin-operator-e2e}"
kind get clusters | grep -qx "$cluster" || kind create cluster --name "$cluster" --wait 120s
kubeconfig="$(mktemp)"
trap 'rm -f "$kubeconfig"' EXIT
kind get kubeconfig --name "$cluster" > "$kubeconfig"
E2E_KUBECONFIG="$kubeconfig" .venv/bin/python -m pytest -q tests/e2e "$@"
