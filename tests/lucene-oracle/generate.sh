#!/usr/bin/env bash
# Regenerates analyzer-golden.jsonl from analyzer-input.txt with real Lucene 8.7
# (Debian liblucene8-java). Run after adding lines to analyzer-input.txt.
set -euo pipefail
cd "$(dirname "$0")"
CP=$(ls /usr/share/java/lucene-core-8*.jar /usr/share/java/lucene-analyzers-common-8*.jar | tr '\n' ':')
OUT=$(mktemp -d)
javac -cp "$CP" -d "$OUT" AnalyzerGolden.java
java -cp "$CP:$OUT" AnalyzerGolden analyzer-input.txt > analyzer-golden.jsonl
rm -rf "$OUT"
echo "wrote $(wc -l < analyzer-golden.jsonl) lines to analyzer-golden.jsonl"
