#!/usr/bin/env bash
# `make serve`. The HTTP server is not built yet: until it is, this writes a small random-weight model
# (clearly not a trained one: its output is noise) and runs `osprey generate` on it, so the whole path
# (loading, forward pass, KV cache, greedy decoding) runs end to end.
set -euo pipefail
BUILD=${1:-build/release}
MODELS=${2:-build/models}
MODEL="$MODELS/random-llama-110m"
if [ ! -f "$MODEL/model.safetensors" ]; then
  echo "serve: writing a random-weight 110M-parameter Llama to $MODEL (once)"
  "$BUILD/osprey" random-model --preset llama-110m --dtype bf16 --output "$MODEL" --seed 1
fi
"$BUILD/osprey" info --model "$MODEL"
echo
echo "\$ osprey generate --model $MODEL --prompt-ids 1,450,4996,17354 --max-tokens 32 --ignore-eos"
"$BUILD/osprey" generate --model "$MODEL" --prompt-ids 1,450,4996,17354 --max-tokens 32 --ignore-eos
echo
echo "(osprey serve, the OpenAI-compatible server, is not built yet; this model has random weights.)"
