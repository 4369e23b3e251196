#!/usr/bin/env bash
# Builds the pinned Pulumi CLI (tools/go.mod) into bin/pulumi, once: later calls
# return at once while bin/pulumi reports the pinned version. A lock keeps
# concurrent callers (CI, several test binaries) from building it twice.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=v3.274.1
out="$root/bin/pulumi"
mkdir -p "$root/bin"
exec 9>"$root/bin/.pulumi.lock"
flock 9
if [ -x "$out" ] && [ "$("$out" version 2>/dev/null)" = "$version" ]; then
	exit 0
fi
echo "building the Pulumi CLI $version into bin/pulumi (about 9 minutes cold)..." >&2
cd "$root/tools"
go build -trimpath -o "$out.tmp" \
	-ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" \
	github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
mv "$out.tmp" "$out"
"$out" version
