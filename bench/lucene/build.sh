#!/usr/bin/env bash
# Compile LuceneBench.java against the Debian Lucene 8.7 jars (apt-get install liblucene8-java).
# Output: bench/lucene/classes/ (gitignored) plus classes/classpath.txt for `java -cp`.
# No Maven, no network.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
jars="${LUCENE_JAR_DIR:-/usr/share/java}"
cp=""
for j in lucene-core lucene-analyzers-common lucene-queryparser lucene-queries lucene-sandbox; do
    f="$jars/$j-8.7.0.jar"
    if [[ ! -f "$f" ]]; then
        echo "build.sh: missing $f (apt-get install -y liblucene8-java)" >&2
        exit 1
    fi
    cp="${cp:+$cp:}$f"
done
out="$here/classes"
mkdir -p "$out"
javac --release 17 -encoding UTF-8 -Xlint:all,-serial -d "$out" -cp "$cp" "$here/LuceneBench.java"
echo "$out:$cp" > "$out/classpath.txt"
echo "build.sh: compiled to $out (java -cp \"\$(cat $out/classpath.txt)\" LuceneBench ...)" >&2
