#!/bin/sh
# Run by the tinymlops-minio-setup Job (minio/mc image, POSIX sh). Idempotent: every step either
# checks first or overwrites with the same value. Credentials come from the environment and are
# never printed.
set -eu

: "${MINIO_URL:?}" "${BUCKET:?}" "${POLICY_NAME:?}"
: "${ADMIN_ACCESS_KEY:?no accesskey in secret mlpipeline-minio-artifact}"
: "${ADMIN_SECRET_KEY:?no secretkey in secret mlpipeline-minio-artifact}"
: "${USER_ACCESS_KEY:?the secret tinymlops-minio has an empty accesskey: fill the overlay env file}"
: "${USER_SECRET_KEY:?the secret tinymlops-minio has an empty secretkey: fill the overlay env file}"
if [ "$USER_ACCESS_KEY" = "$ADMIN_ACCESS_KEY" ]; then
  echo "tinymlops-minio must hold the pipelines' own user, not MinIO's admin credentials" >&2
  exit 1
fi

here=$(dirname "$0")          # the ConfigMap's mount: this script and policy.json.tmpl
work=${TMPDIR:-/tmp}          # the pod's writable emptyDir
mcx() { mc --config-dir "$work/.mc" --quiet --no-color "$@"; }

mcx config host add kfp "$MINIO_URL" "$ADMIN_ACCESS_KEY" "$ADMIN_SECRET_KEY" >/dev/null

if mcx ls "kfp/$BUCKET" >/dev/null 2>&1; then
  echo "bucket $BUCKET exists"
else
  mcx mb "kfp/$BUCKET"
fi

sed "s/@BUCKET@/$BUCKET/g" "$here/policy.json.tmpl" > "$work/policy.json"
mcx admin policy add kfp "$POLICY_NAME" "$work/policy.json"
mcx admin user add kfp "$USER_ACCESS_KEY" "$USER_SECRET_KEY" >/dev/null
mcx admin policy set kfp "$POLICY_NAME" "user=$USER_ACCESS_KEY" >/dev/null
echo "user of secret tinymlops-minio has policy $POLICY_NAME on bucket $BUCKET"
