#!/usr/bin/env bash
# `make serve`: starts `osprey serve` (the OpenAI-compatible server) on the default model. Until real
# weights are configured, that is a random-weight 110M Llama written once (its output is noise, but
# the whole path — HTTP, tokenization, batching, KV cache, streaming — is real). Ctrl-C drains and exits.
set -euo pipefail
BUILD=${1:-build/release}
MODELS=${2:-build/models}
MODEL=${OSPREY_MODEL:-$MODELS/random-llama-110m}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
if [ -z "${OSPREY_MODEL:-}" ] && [ ! -f "$MODEL/model.safetensors" ]; then
  echo "serve: writing a random-weight 110M-parameter Llama to $MODEL (once)"
  "$BUILD/osprey" random-model --preset llama-110m --dtype bf16 --output "$MODEL" --seed 1
fi
NAME=$(basename "$MODEL")
echo "serve: http://$HOST:$PORT (model '$NAME'); the server listens once the model is loaded. Try:"
echo "  curl -s http://$HOST:$PORT/v1/completions -H 'Content-Type: application/json' \\"
echo "    -d '{\"model\": \"$NAME\", \"prompt\": [1, 450, 4996, 17354], \"max_tokens\": 16}'"
exec "$BUILD/osprey" serve --model "$MODEL" --host "$HOST" --port "$PORT"
