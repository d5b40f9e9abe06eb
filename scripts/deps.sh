#!/usr/bin/env bash
# deps.sh - install the Debian packages socle needs to build, test and benchmark, when missing.
# Idempotent and quiet when everything is there. Runs apt-get as root (directly or through sudo).
set -euo pipefail
packages=(
  build-essential pkg-config
  libmicrohttpd-dev libgnutls28-dev libjansson-dev libsqlite3-dev libpq-dev libssl-dev libargon2-dev libxml2-dev libzip-dev libdeflate-dev
  libcmocka-dev
  postgresql-15 curl python3 openssl
  nodejs
  wrk
  postfix swaks libnet-ssleay-perl
)
# Extra packages a target needs only for itself (make fuzz: clang) come as arguments.
packages+=("$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm ships inside some nodejs builds; only ask Debian for it when there is none.
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# Postfix is only a peer operator the MSSanté tests start in a temporary directory: the system's
# own instance stays unconfigured (no /etc/postfix/main.cf, nothing started, port 25 left alone).
if [[ " ${missing[*]} " == *" postfix "* ]]; then
  echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
