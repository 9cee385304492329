#!/usr/bin/env bash
# `make serve`: starts `osprey serve` (the OpenAI-compatible server) on the bundled demo model,
# models/osprey-kjv-demo (a 4M-parameter Llama trained on the King James Bible by
# tools/train-demo-model; see its model card), or on OSPREY_MODEL when set. Ctrl-C drains and exits.
set -euo pipefail
BUILD=${1:-build/release}
MODEL=${OSPREY_MODEL:-models/osprey-kjv-demo}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
if [ ! -e "$MODEL" ]; then
  echo "serve: no model at $MODEL (set OSPREY_MODEL to a Hugging Face folder or .gguf file)" >&2
  exit 2
fi
NAME=$(basename "$MODEL")
echo "serve: http://$HOST:$PORT (model '$NAME'); the server listens once the model is loaded. Try:"
echo "  curl -s http://$HOST:$PORT/v1/completions -H 'Content-Type: application/json' \\"
echo "    -d '{\"model\": \"$NAME\", \"prompt\": \"In the beginning God created\", \"max_tokens\": 32, \"temperature\": 0}'"
exec "$BUILD/osprey" serve --model "$MODEL" --host "$HOST" --port "$PORT"
