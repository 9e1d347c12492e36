#!/bin/bash
# Makes a test host what ansible/asterisk-setup.yml left behind (the same edits as its tasks):
# redis-server from apt, Debian's stock redis.conf with `bind 0.0.0.0`, a plaintext `requirepass`,
# `appendonly yes`, maxmemory 512mb allkeys-lru, restarted; then P_KEYS keys, half with a TTL.
# Runs as root on the host as `bash -c 'IFS= read -r PW; export PW; exec bash -s'` with the password as the
# first line of stdin and this script after it: never in arguments.
set -eu
PW=${PW:?the password comes on stdin, see playbookHost()}
KEYS=${P_KEYS:-5000}
export DEBIAN_FRONTEND=noninteractive
apt-get install -q -y redis-server redis-tools >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1; apt-get install -q -y redis-server redis-tools >/dev/null; }
CONF=/etc/redis/redis.conf
sed -i -E 's/^bind .*/bind 0.0.0.0/; s/^appendonly no/appendonly yes/; s/^# *maxmemory-policy .*/maxmemory-policy allkeys-lru/; s/^# *maxmemory .*/maxmemory 512mb/' "$CONF"
sed -i -E '/^requirepass /d' "$CONF"
printf 'requirepass %s\n' "$PW" >> "$CONF"
systemctl restart redis-server
for _ in $(seq 1 50); do REDISCLI_AUTH="$PW" redis-cli PING 2>/dev/null | grep -q PONG && break; sleep 0.1; done
# Half the keys never expire, half expire in a day (both must survive the takeover).
awk -v n="$KEYS" 'BEGIN{for(i=0;i<n;i++){ if(i%2) printf "SET pb:ttl:%d v%d EX 86400\n", i, i; else printf "SET pb:keep:%d v%d\n", i, i }}' \
  | REDISCLI_AUTH="$PW" redis-cli --pipe >/dev/null
REDISCLI_AUTH="$PW" redis-cli DBSIZE
