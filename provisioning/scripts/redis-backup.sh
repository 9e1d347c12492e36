#!/bin/bash
# Managed by provisioning/ (npm run provision): installed as /usr/local/libexec/redis-backup and run by
# redis-backup.service (redis-backup.timer). Local edits are overwritten on the next run.
#
# One consistent snapshot of the running Redis server, checked, then uploaded to S3 under a
# timestamped key:
#   1. BGSAVE (SCHEDULE: after an AOF rewrite in progress), then wait until rdb_bgsave_in_progress
#      is 0 and LASTSAVE has moved past its value before the call (a save that ended without
#      moving it failed); rdb_last_bgsave_status must be ok.
#   2. Copy dbfilename out of dir (Redis replaces the file by rename, so the copy is one snapshot).
#   3. CHECK_RDB (redis-check-rdb) on the copy: "RDB looks OK", and its key counts.
#   4. aws s3 cp to s3://BUCKET/PREFIX/HOST/YYYY/MM/DD/redis-HOST-YYYYMMDDTHHMMSSZ.rdb with the key
#      counts and the SHA-256 as object metadata (the restore compares its key count with them).
# Parameters come from the unit's environment (nothing is spliced into this file):
#   REDIS_CLI REDIS_HOST REDIS_PORT REDIS_USER SECRET_FILE CHECK_RDB BACKUP_BUCKET BACKUP_PREFIX
#   BACKUP_REGION (empty: the instance's, from IMDSv2 at IMDS_URL) BACKUP_TIMEOUT (seconds)
# The password is the provisioner's ACL user's (unit credential redis-admin, else SECRET_FILE); it
# reaches redis-cli through REDISCLI_AUTH only, never a command line.
set -euo pipefail
export LC_ALL=C AWS_PAGER=""

die() { echo "redis-backup: $*" >&2; exit 1; }
for v in REDIS_CLI REDIS_HOST REDIS_PORT REDIS_USER CHECK_RDB BACKUP_BUCKET BACKUP_PREFIX BACKUP_TIMEOUT; do
  [ -n "${!v:-}" ] || die "$v is not set (run by redis-backup.service, which sets it)"
done
command -v aws >/dev/null || die "the AWS CLI (aws) is not installed or not on PATH"
command -v "$CHECK_RDB" >/dev/null || die "$CHECK_RDB (the RDB checker) is not installed"
STAGE=${CACHE_DIRECTORY:-${TMPDIR:-/tmp}}
deadline=$(( $(date +%s) + BACKUP_TIMEOUT ))
# Sets LEFT to the seconds left of BACKUP_TIMEOUT, or stops naming the step that ran out of time.
left() { LEFT=$(( deadline - $(date +%s) )); [ "$LEFT" -gt 0 ] || die "not done within BACKUP_TIMEOUT ($BACKUP_TIMEOUT s), at: $1"; }

cred="${CREDENTIALS_DIRECTORY:-/nonexistent}/redis-admin"
[ -r "$cred" ] || cred=${SECRET_FILE:-}
{ [ -n "$cred" ] && [ -r "$cred" ]; } || die "cannot read the Redis password (unit credential redis-admin or SECRET_FILE)"
pw=$(head -n 1 "$cred")
rc() { REDISCLI_AUTH="$pw" timeout -k 2 30 "$REDIS_CLI" -h "$REDIS_HOST" -p "$REDIS_PORT" --user "$REDIS_USER" "$@" 2>&1 | tr -d '\r'; }
field() { printf '%s\n' "$1" | awk -F: -v k="$2" '$1 == k { print $2 }'; }

# --- 1. BGSAVE and wait for it ---
dir=$(rc CONFIG GET dir | sed -n 2p)
dbfile=$(rc CONFIG GET dbfilename | sed -n 2p)
{ [ -n "$dir" ] && [ -n "$dbfile" ]; } || die "no answer from $REDIS_HOST:$REDIS_PORT as $REDIS_USER: $(rc PING | head -n 1 | cut -c 1-200)"
before=$(rc LASTSAVE)
[[ $before =~ ^[0-9]+$ ]] || die "LASTSAVE: $before"
# LASTSAVE counts seconds: a save finishing in the second of the previous one would not move it.
while [ "$(date +%s)" -le "$before" ]; do sleep 0.2; done
reply=$(rc BGSAVE SCHEDULE)
case "$reply" in "Background saving started"|"Background saving scheduled") ;; *) die "BGSAVE: $reply";; esac
t0=$(date +%s)
# "started" means the child is already forked; a scheduled one starts once the AOF rewrite ends.
running=0; [ "$reply" = "Background saving started" ] && running=1
while :; do
  p=$(rc INFO persistence)
  now=$(rc LASTSAVE)
  busy=$(field "$p" rdb_bgsave_in_progress)
  [ "$busy" = 1 ] && running=1
  if [ "$busy" = 0 ] && [[ $now =~ ^[0-9]+$ ]]; then
    [ "$now" -gt "$before" ] && break
    # Ran and ended without moving LASTSAVE: it failed.
    [ "$running" = 1 ] && die "BGSAVE failed (rdb_last_bgsave_status $(field "$p" rdb_last_bgsave_status)); see the Redis log"
  fi
  left "waiting for BGSAVE (rdb_bgsave_in_progress $busy, aof_rewrite_in_progress $(field "$p" aof_rewrite_in_progress))"
  sleep 0.2
done
[ "$(field "$p" rdb_last_bgsave_status)" = ok ] || die "BGSAVE failed (rdb_last_bgsave_status $(field "$p" rdb_last_bgsave_status)); see the Redis log"
version=$(field "$(rc INFO server)" redis_version)
unset pw

# --- 2. copy it out, 3. check the copy ---
snap=$(mktemp -p "$STAGE" snapshot.XXXXXX)
trap 'rm -f "$snap"' EXIT
cp -- "$dir/$dbfile" "$snap" || die "cannot copy $dir/$dbfile"
left "$CHECK_RDB"
check=$(timeout -k 2 "$LEFT" "$CHECK_RDB" "$snap" 2>&1) || die "$CHECK_RDB refused the snapshot: $(printf '%s\n' "$check" | grep -E 'ERROR|additional info' | head -n 3 | tr '\n' ' ')"
case "$check" in *"RDB looks OK"*) ;; *) die "$CHECK_RDB did not say the snapshot is OK: $(printf '%s\n' "$check" | tail -n 3 | tr '\n' ' ')";; esac
keys=$(printf '%s\n' "$check" | sed -n 's/^\[info\] \([0-9]*\) keys read$/\1/p')
expires=$(printf '%s\n' "$check" | sed -n 's/^\[info\] \([0-9]*\) expires$/\1/p')
bytes=$(stat -c %s "$snap")
sha=$(sha256sum "$snap" | cut -d' ' -f1)

# --- 4. upload ---
region=${BACKUP_REGION:-}
if [ -z "$region" ]; then
  token=$(curl -fsS --max-time 2 --retry 2 -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 60" "$IMDS_URL/latest/api/token") || die "no IMDSv2 token from $IMDS_URL (set redis_backup_region)"
  region=$(printf 'X-aws-ec2-metadata-token: %s\n' "$token" | curl -fsS --max-time 2 --retry 2 -H @- "$IMDS_URL/latest/meta-data/placement/region") || die "no placement/region from $IMDS_URL"
  [[ $region =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]] || die "unexpected region from $IMDS_URL: $(printf '%s' "$region" | head -c 60)"
fi
host=$(hostname -s)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
key="$BACKUP_PREFIX/$host/$(date -u +%Y/%m/%d)/redis-$host-$stamp.rdb"
left "aws s3 cp"
timeout -k 5 "$LEFT" aws s3 cp "$snap" "s3://$BACKUP_BUCKET/$key" --region "$region" --only-show-errors \
  --metadata "keys=$keys,expires=$expires,sha256=$sha,redis-version=$version,host=$host" \
  --cli-connect-timeout 10 --cli-read-timeout 60 || die "upload to s3://$BACKUP_BUCKET/$key failed"
echo "backed up s3://$BACKUP_BUCKET/$key: $bytes bytes, $keys keys ($expires with TTL), sha256 $sha, in $(( $(date +%s) - t0 )) s"
