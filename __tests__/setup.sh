#!/usr/bin/env bash
# `npm test` runs this first: it makes a Debian 12 machine ready for the suite, then gets out of the way.
#  - Debian packages the tests run for real (installed only when missing, which needs root):
#      PostgreSQL, PgBouncer (the RDS Proxy stand-in), Redis, a TLS certificate:
#        postgresql-15 redis-server redis-tools pgbouncer openssl
#      the provisioning test bed (booted Debian hosts over SSH, a local apt mirror):
#        debootstrap systemd-container iproute2 dpkg-dev openssh-client ca-certificates curl
#      the lint of the shell scripts, and ansible-core for the side-by-side bench:
#        ansible-core shellcheck
#    The packages' init scripts are kept from starting servers (policy-rc.d): the tests start their
#    own on random ports.
#  - Terraform on PATH and a provider mirror with hashicorp/aws, found the way the tools find it
#    (stacks/terraform.ts findMirror: TF_PLUGIN_MIRROR, else the usual places, else a short search);
#    without them it stops and says what to install or set.
# Idempotent: with everything present it runs one dpkg-query and a few file tests.
set -euo pipefail

PACKAGES=(
  postgresql-15 redis-server redis-tools pgbouncer openssl
  debootstrap systemd-container iproute2 dpkg-dev openssh-client ca-certificates curl
  shellcheck ansible-core
)

fail() {
  printf 'npm test: %s\n' "$@" >&2
  exit 1
}

# --- Debian packages -------------------------------------------------------------------------
command -v dpkg-query >/dev/null ||
  fail "this suite runs on Debian 12 (or Ubuntu): dpkg-query not found, so the packages it needs cannot be checked:" \
    "  ${PACKAGES[*]}"

# One call for all of them; a package dpkg has never heard of is simply absent from the output.
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)
missing=()
for p in "${PACKAGES[@]}"; do
  grep -qxF "$p installed" <<<"$installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    fail "missing Debian packages: ${missing[*]}" \
      "run the tests as root (they also boot test hosts with systemd-nspawn), or install them first:" \
      "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
  fi
  printf 'npm test: installing %s\n' "${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  policy=/usr/sbin/policy-rc.d
  ours=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    ours=1
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  if [ -n "$ours" ]; then
    rm -f "$policy"
    trap - EXIT
  fi
fi

# --- Terraform and its provider mirror ---------------------------------------------------------
command -v terraform >/dev/null ||
  fail "terraform is not on PATH: the stack tests run the real binary (Terraform 1.11 or later; https://developer.hashicorp.com/terraform/install)"

# The same lookup as `npm run validate` and `npm run plan` (one declaration of where a mirror may be).
# shellcheck disable=SC2016 # the JavaScript is single-quoted on purpose
mirror=$(node --require tsx/cjs -e '
  try { process.stdout.write(require("./stacks/terraform").findMirror().path); }
  catch (error) { process.stderr.write(`${error.message} (the tests have no network to download the provider)\n`); process.exit(1); }') ||
  fail "no Terraform provider mirror (see above)"
printf 'npm test: provider mirror %s\n' "$mirror"
