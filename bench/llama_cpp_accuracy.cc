// How far Osprey's and llama.cpp's quantized models are from Hugging Face transformers' f32 logits
// on the tiny random checkpoints of tests/fixtures/hf-reference: the relative RMS error
// sqrt(sum (logit - ref)^2 / sum ref^2) over the four reference sequences, for
//   - Osprey on its own GGUF (`osprey quantize`, the same blocks as --quantize at load),
//   - llama.cpp on that same file (the same weights: the runtimes' arithmetic compared),
//   - llama.cpp on the file its own quantizer (llama_model_quantize) makes from the f32 GGUF with
//     the embeddings kept as they are (as Osprey mixes types), and Osprey on that file,
//   - llama.cpp on its quantizer's default mix (embeddings quantized too),
// and both runtimes on the f32 GGUF (their arithmetic without quantization). Prints a Markdown
// table and, with --json FILE, writes the figures: tests/fixtures/hf-reference/llama-cpp-error.json
// is this file, and its llama.cpp figures bound Osprey's error in tests/unit/model.
//
// Two more uses, for GGUF files of any size (e.g. TinyLlama in each type llama.cpp writes):
//   --from IN.gguf --to OUT.gguf --ftype N   llama.cpp's quantizer (N: enum llama_ftype)
//   --compare FILE.gguf [--against REF.gguf] [--tokens 64]
//        both runtimes' logits over one sequence of token ids: their relative RMS difference and
//        top-1 agreement, and each one's relative RMS error against REF's logits as Osprey runs it
//
// The fixtures have no tokenizer, and llama.cpp wants a vocabulary to check token ids against: each
// file gets a stand-in SentencePiece vocabulary of the model's size (<unk>, <s>, </s>, the 256 byte
// tokens, then plain pieces); the logits do not depend on it.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "formats/safetensors.h"
#include "llama_cpp_api.h"
#include "model/generate.h"
#include "model/gguf_model.h"
#include "model/loader.h"
#include "model/weights.h"

namespace {

using namespace osprey;
using llama_cpp::die;

struct Reference {
  std::vector<std::vector<int32_t>> ids;
  std::vector<std::vector<float>> logits;
};

Reference read_reference(const std::string& folder) {
  auto ref = safetensors::File::open(folder + "/reference.safetensors");
  Reference r;
  for (int i = 0; i < 4; ++i) {
    const Tensor ids = ref->tensor(*ref->find("input_ids_" + std::to_string(i)));
    const Tensor logits = ref->tensor(*ref->find("logits_" + std::to_string(i)));
    std::vector<int32_t> v;
    for (int64_t j = 0; j < ids.numel(); ++j)
      v.push_back(static_cast<int32_t>(ids.data<int64_t>()[j]));
    r.ids.push_back(v);
    r.logits.emplace_back(logits.data<float>(), logits.data<float>() + logits.numel());
  }
  return r;
}

using LogitsFn = std::function<std::vector<float>(const std::vector<int32_t>&)>;

double relative_rms(const std::vector<float>& a, const std::vector<float>& ref) {
  double err = 0, norm = 0;
  for (size_t j = 0; j < a.size(); ++j) {
    err += (double{a[j]} - ref[j]) * (double{a[j]} - ref[j]);
    norm += double{ref[j]} * ref[j];
  }
  return std::sqrt(err / norm);
}

// Over all the reference sequences at once.
double relative_rms_error(const Reference& ref, const LogitsFn& run) {
  std::vector<float> got, want;
  for (size_t i = 0; i < ref.ids.size(); ++i) {
    const std::vector<float> l = run(ref.ids[i]);
    if (l.size() != ref.logits[i].size()) die("logits of the wrong size");
    got.insert(got.end(), l.begin(), l.end());
    want.insert(want.end(), ref.logits[i].begin(), ref.logits[i].end());
  }
  return relative_rms(got, want);
}

gguf::Metadata stand_in_vocabulary(int64_t n) {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {2, 3, 3};  // unknown, control
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "<0x%02X>", b);
    tokens.push_back(hex);
    types.push_back(6);  // byte
  }
  while (static_cast<int64_t>(tokens.size()) < n) {
    tokens.push_back("\xe2\x96\x81t" + std::to_string(tokens.size()));
    types.push_back(1);  // normal
  }
  if (static_cast<int64_t>(tokens.size()) > n) die("the model's vocabulary is under 259 tokens");
  std::vector<float> scores(tokens.size());
  for (size_t i = 0; i < scores.size(); ++i) scores[i] = -static_cast<float>(i);
  return {{"tokenizer.ggml.model", gguf::Value::string("llama")},
          {"tokenizer.ggml.tokens", gguf::Value::string_array(tokens)},
          {"tokenizer.ggml.scores", gguf::Value::f32_array(scores)},
          {"tokenizer.ggml.token_type", gguf::Value::i32_array(types)},
          {"tokenizer.ggml.bos_token_id", gguf::Value::u32(1)},
          {"tokenizer.ggml.eos_token_id", gguf::Value::u32(2)},
          {"tokenizer.ggml.unknown_token_id", gguf::Value::u32(0)}};
}

// llama.cpp's logits at every position of each sequence, one batch per sequence from an empty
// cache.
struct LlamaCppModel {
  llama_cpp::LlamaCpp& api;
  void* model;
  void* ctx;
  int64_t vocab;

  LlamaCppModel(llama_cpp::LlamaCpp& a, const std::string& path, int64_t n_vocab, int threads)
      : api(a), vocab(n_vocab) {
    model = api.load_model(path.c_str(), api.model_defaults());
    if (!model) die("llama.cpp could not load " + path);
    ctx = api.context(model, 512, 512, threads);
  }
  ~LlamaCppModel() {
    api.free_context(ctx);
    api.free_model(model);
  }
  std::vector<float> logits(const std::vector<int32_t>& ids) {
    const auto n = static_cast<int32_t>(ids.size());
    llama_cpp::Batch b = api.batch_init(n, 0, 1);
    for (int32_t i = 0; i < n; ++i) {
      b.token[i] = ids[i];
      b.pos[i] = i;
      b.n_seq_id[i] = 1;
      b.seq_id[i][0] = 0;
      b.logits[i] = 1;
    }
    b.n_tokens = n;
    api.memory_clear(api.get_memory(ctx), false);
    if (api.decode(ctx, b) != 0) die("llama_decode failed");
    std::vector<float> out;
    for (int32_t i = 0; i < n; ++i) {
      const float* l = api.logits_ith(ctx, i);
      if (!l) die("llama.cpp gave no logits");
      out.insert(out.end(), l, l + vocab);
    }
    api.batch_free(b);
    return out;
  }
};

double osprey_error(const Reference& ref, const std::string& gguf) {
  LoadedModel m = load_model(gguf, {.progress = false});
  return relative_rms_error(ref, [&](const auto& ids) { return prompt_logits(*m.model, ids); });
}

double llama_cpp_error(llama_cpp::LlamaCpp& api, const Reference& ref, const std::string& gguf,
                       int64_t vocab, int threads) {
  LlamaCppModel m(api, gguf, vocab, threads);
  return relative_rms_error(ref, [&](const auto& ids) { return m.logits(ids); });
}

std::string percent(std::optional<double> e) {
  if (!e) return "n/a";
  char s[32];
  std::snprintf(s, sizeof s, "%.2f%%", 100 * *e);
  return s;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

}  // namespace

// Osprey and llama.cpp on the same file: how far apart their logits are over one sequence, and,
// given `against` (e.g. the F16 file the quantized one was made from, as Osprey runs it), how far
// each is from those logits.
void compare(llama_cpp::LlamaCpp& api, const std::string& path, int tokens, int threads,
             const std::string& against) {
  std::vector<int32_t> ids;
  std::vector<float> ours;
  int64_t vocab = 0;
  {
    LoadedModel m = load_model(path, {.progress = false});
    vocab = m.model->config().vocab_size;
    for (int i = 0; i < tokens; ++i)
      ids.push_back(static_cast<int32_t>(100 + (i * 7919) % (vocab - 100)));
    ours = prompt_logits(*m.model, ids);
  }
  std::vector<float> theirs;
  {
    LlamaCppModel t(api, path, vocab, threads);
    theirs = t.logits(ids);
  }
  int same_top1 = 0;
  for (int i = 0; i < tokens; ++i) {
    same_top1 += argmax(ours.data() + i * vocab, vocab) == argmax(theirs.data() + i * vocab, vocab);
  }
  std::printf(
      "{\"model\": \"%s\", \"tokens\": %d, \"relative_rms_difference\": %.6g, "
      "\"same_top1\": %d",
      path.c_str(), tokens, relative_rms(ours, theirs), same_top1);
  if (!against.empty()) {
    LoadedModel r = load_model(against, {.progress = false});
    const std::vector<float> ref = prompt_logits(*r.model, ids);
    std::printf(", \"osprey_vs_reference\": %.6g, \"llama_cpp_vs_reference\": %.6g",
                relative_rms(ours, ref), relative_rms(theirs, ref));
  }
  std::printf("}\n");
}

int main(int argc, char** argv) {
  std::string lib_dir, fixtures, work, json, made_by = "llama.cpp";
  std::string from, to, compare_path, against;
  int ftype = -1, tokens = 64;
  std::string models = "llama-f32,llama-bf16,llama3rope-f32,qwen2-f32,qwen3-f32,mistral-swa-f32";
  int threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--lib-dir")
      lib_dir = v;
    else if (k == "--fixtures")
      fixtures = v;
    else if (k == "--work")
      work = v;
    else if (k == "--models")
      models = v;
    else if (k == "--json")
      json = v;
    else if (k == "--made-by")
      made_by = v;
    else if (k == "--threads")
      threads = std::atoi(v.c_str());
    else if (k == "--from")
      from = v;
    else if (k == "--to")
      to = v;
    else if (k == "--ftype")
      ftype = std::atoi(v.c_str());
    else if (k == "--compare")
      compare_path = v;
    else if (k == "--against")
      against = v;
    else if (k == "--tokens")
      tokens = std::atoi(v.c_str());
    else
      die("unknown option " + k);
  }
  if (!lib_dir.empty() && !from.empty() && !to.empty() && ftype >= 0) {
    llama_cpp::LlamaCpp api(lib_dir);
    llama_cpp::QuantizeParams qp = api.quantize_defaults();
    qp.ftype = ftype;
    qp.nthread = threads;
    if (api.quantize(from.c_str(), to.c_str(), &qp) != 0) die("llama_model_quantize failed");
    std::_Exit(0);
  }
  if (!lib_dir.empty() && !compare_path.empty() && tokens > 0) {
    llama_cpp::LlamaCpp api(lib_dir);
    try {
      compare(api, compare_path, tokens, threads, against);
    } catch (const Error& e) {
      die(e.what());
    }
    std::fflush(stdout);
    std::_Exit(0);
  }
  if (lib_dir.empty() || fixtures.empty() || work.empty() || threads < 1) {
    die("usage: --lib-dir DIR --fixtures tests/fixtures/hf-reference --work DIR [--models a,b] "
        "[--json FILE] [--made-by 'llama.cpp VERSION'] [--threads 2]\n"
        "   or: --lib-dir DIR --from IN.gguf --to OUT.gguf --ftype N\n"
        "   or: --lib-dir DIR --compare FILE.gguf [--against REFERENCE.gguf] [--tokens 64]");
  }
  std::filesystem::create_directories(work);
  llama_cpp::LlamaCpp api(lib_dir);

  struct Row {
    std::string model, weights;
    std::optional<double> osprey_own, llama_on_osprey, llama_own, osprey_on_llama, llama_default;
  };
  std::vector<Row> rows;
  for (const std::string& name : split(models)) {
    const std::string folder = fixtures + "/" + name;
    try {
      const Reference ref = read_reference(folder);
      const ModelConfig c = load_config(folder);
      auto weights = open_safetensors_weights(folder);
      const gguf::Metadata vocab = stand_in_vocabulary(c.vocab_size);
      const std::string f32 = work + "/" + name + "-f32.gguf";
      export_gguf(c, *weights, f32, {.matrix_dtype = DType::F32, .name = name, .tokenizer = vocab});
      rows.push_back({name,
                      "F32",
                      osprey_error(ref, f32),
                      llama_cpp_error(api, ref, f32, c.vocab_size, threads),
                      {},
                      {},
                      {}});
      for (const auto& [type, ftype] : {std::pair{DType::Q8_0, llama_cpp::kFtypeMostlyQ8_0},
                                        std::pair{DType::Q4_0, llama_cpp::kFtypeMostlyQ4_0}}) {
        const std::string t(dtype_name(type));
        const std::string ours = work + "/" + name + "-osprey-" + t + ".gguf";
        export_gguf(c, *quantize_weights(weights, type), ours,
                    {.matrix_dtype = std::nullopt, .name = name, .tokenizer = vocab});
        // llama.cpp's quantizer twice: as Osprey mixes types (embeddings kept as they are) and with
        // its defaults (embeddings quantized too).
        auto llama_quantize = [&](const std::string& out, bool keep_embeddings) {
          llama_cpp::QuantizeParams qp = api.quantize_defaults();
          qp.ftype = ftype;
          qp.nthread = threads;
          if (keep_embeddings) qp.token_embedding_type = llama_cpp::kGgmlTypeF32;
          if (api.quantize(f32.c_str(), out.c_str(), &qp) != 0) die("llama_model_quantize failed");
        };
        const std::string theirs = work + "/" + name + "-llama-cpp-" + t + ".gguf";
        const std::string theirs_default = work + "/" + name + "-llama-cpp-default-" + t + ".gguf";
        llama_quantize(theirs, true);
        llama_quantize(theirs_default, false);
        Row r{name, t, {}, {}, {}, {}, {}};
        r.osprey_own = osprey_error(ref, ours);
        r.llama_on_osprey = llama_cpp_error(api, ref, ours, c.vocab_size, threads);
        r.llama_own = llama_cpp_error(api, ref, theirs, c.vocab_size, threads);
        r.osprey_on_llama = osprey_error(ref, theirs);
        r.llama_default = llama_cpp_error(api, ref, theirs_default, c.vocab_size, threads);
        rows.push_back(r);
      }
    } catch (const Error& e) {
      die(name + ": " + e.what());
    }
  }

  std::printf(
      "| model | weights | Osprey (osprey quantize) | llama.cpp, same file | llama.cpp "
      "(llama_model_quantize, embeddings kept) | Osprey, same file | llama.cpp (its default mix) "
      "|\n|---|---|---:|---:|---:|---:|---:|\n");
  for (const Row& r : rows) {
    std::printf("| %s | %s | %s | %s | %s | %s | %s |\n", r.model.c_str(), r.weights.c_str(),
                percent(r.osprey_own).c_str(), percent(r.llama_on_osprey).c_str(),
                percent(r.llama_own).c_str(), percent(r.osprey_on_llama).c_str(),
                percent(r.llama_default).c_str());
  }
  if (!json.empty()) {
    std::ofstream out(json);
    out << "{\n\"made_by\": \"bench/llama_cpp_accuracy with " << made_by
        << "\",\n\"relative_rms_error\": {\n";
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      auto field = [](const char* k, std::optional<double> v) {
        char s[64];
        if (v)
          std::snprintf(s, sizeof s, "\"%s\": %.6g", k, *v);
        else
          std::snprintf(s, sizeof s, "\"%s\": null", k);
        return std::string(s);
      };
      out << "  \"" << r.model << "/" << r.weights << "\": {" << field("osprey_own", r.osprey_own)
          << ", " << field("llama_cpp_on_osprey", r.llama_on_osprey) << ", "
          << field("llama_cpp_own", r.llama_own) << ", "
          << field("osprey_on_llama_cpp", r.osprey_on_llama) << ", "
          << field("llama_cpp_default_mix", r.llama_default) << "}"
          << (i + 1 < rows.size() ? ",\n" : "\n");
    }
    out << "}}\n";
  }
  std::fflush(stdout);
  std::_Exit(0);  // llama.cpp's thread pools go with the process
}
