#!/usr/bin/env bash
# Installs what the console's browser tests drive (automation/cmd/cats,
# TestConsoleInABrowser): Debian's chromium and chromium-driver, and a
# Japanese font so the screenshots are legible. Silent when all are there;
# uses sudo only when not root. .ci/run calls it before `make test`.
set -euo pipefail

packages=(chromium chromium-driver fonts-ipafont-gothic)
missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-chromium: no apt-get here: install ${missing[*]} yourself, or point CATS_CHROMIUM at a Chromium" >&2
	exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
	sudo=(sudo)
fi
echo "install-chromium: installing ${missing[*]}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# apt's output is shown only when it fails.
if ! { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >"$log" 2>&1; then
	cat "$log" >&2
	echo "install-chromium: apt-get could not install ${missing[*]}" >&2
	exit 1
fi
