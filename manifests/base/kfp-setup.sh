#!/bin/sh
# Run by the tinymlops-kfp-setup Job (runtime image, POSIX sh). Idempotent:
#   1. upload drift-monitor and continuous-training: `tinymlops kfp upload` finds the pipeline by
#      name and returns the existing version when the package is unchanged (created: false);
#   2. schedule continuous-training: `tinymlops kfp schedule` refuses a second enabled recurring run
#      with the same name in the experiment; that refusal means "already scheduled" and is success.
set -eu

: "${KFP_HOST:?}" "${KFP_EXPERIMENT:?}" "${CT_CRON:?}" "${TINYMLOPS_CONFIG:?}"
RUN_NAME=continuous-training-scheduled

for pipeline in drift-monitor continuous-training; do
  out=$(tinymlops kfp upload "$pipeline" --host "$KFP_HOST" --json)
  printf '%s\n' "$out"
  if [ "$pipeline" = continuous-training ] \
     && printf '%s' "$out" | grep -q '"created": true' \
     && printf '%s' "$out" | grep -q '"new_pipeline": false'; then
    echo "note: a new continuous-training version was uploaded; an existing recurring run stays on the" \
         "version it was created with: disable and delete it in the KFP UI, then run this Job again" >&2
  fi
done

if out=$(tinymlops kfp schedule continuous-training --experiment "$KFP_EXPERIMENT" --cron "$CT_CRON" \
           --run-name "$RUN_NAME" --config "$TINYMLOPS_CONFIG" --host "$KFP_HOST" --json 2>&1); then
  printf '%s\n' "$out"
  echo "scheduled $RUN_NAME ($CT_CRON) in experiment $KFP_EXPERIMENT"
else
  case "$out" in
    *"already has an enabled recurring run"*)
      echo "$RUN_NAME is already scheduled in experiment $KFP_EXPERIMENT: left as it is"
      ;;
    *)
      printf '%s\n' "$out" >&2
      exit 1
      ;;
  esac
fi
