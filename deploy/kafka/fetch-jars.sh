#!/usr/bin/env bash
# Copies the Apache Kafka broker's jars (declared in deploy/kafka/pom.xml) from Maven Central into a git-ignored
# cache folder, once: a marker holding the pom's checksum makes later runs a no-op.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=${1:-"$here/../../.cache/kafka/libs"}
sum=$(sha256sum "$here/pom.xml" | cut -d' ' -f1)
if [[ -f "$dest/.complete" && "$(cat "$dest/.complete")" == "$sum" ]]; then
  exit 0
fi
command -v mvn >/dev/null || { echo "fetch-jars: Maven (mvn) is not installed" >&2; exit 1; }
rm -rf "$dest.tmp"
mkdir -p "$dest.tmp"
mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dest.tmp"
echo "$sum" > "$dest.tmp/.complete"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
echo "fetch-jars: $(ls "$dest"/*.jar | wc -l) jars in $dest" >&2
