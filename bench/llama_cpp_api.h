// The part of llama.cpp's C API that the side-by-side tools call (bench/llama_cpp_baseline.cc,
// bench/llama_cpp_accuracy.cc), opened at run time with dlopen so that nothing of llama.cpp is
// needed to build Osprey. The library is llama.cpp's own build as the npm package
// @node-llama-cpp/linux-x64 ships it (bench/llama-cpp/package.json); its CPU backends come in
// variants per instruction set and the best for this CPU is loaded.
//
// Structs are declared only as far as they are read or written; where a struct is returned by
// value its declaration here is larger than any llama.cpp version's (the x86-64 ABI passes
// anything over 16 bytes through memory, and the callee touches only its own size). Layouts are
// checked at run time against the documented defaults (LlamaCpp::LlamaCpp), so another llama.cpp
// version fails with a message rather than misreading.
#pragma once

#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace llama_cpp {

struct ModelParams {
  alignas(8) unsigned char bytes[1024];
};
struct ContextParams {
  // llama_context_params begins n_ctx, n_batch, n_ubatch, n_seq_max; the fields after them have
  // moved between versions (threads are set through llama_set_n_threads instead).
  uint32_t n_ctx, n_batch, n_ubatch, n_seq_max;
  alignas(8) unsigned char rest[1008];
};
struct QuantizeParams {
  // llama_model_quantize_params begins nthread, ftype (enum llama_ftype), output_tensor_type,
  // token_embedding_type (enum ggml_type).
  int32_t nthread;
  int32_t ftype;
  int32_t output_tensor_type;
  int32_t token_embedding_type;
  alignas(8) unsigned char rest[1008];
};
struct Batch {  // llama_batch
  int32_t n_tokens;
  int32_t* token;
  float* embd;
  int32_t* pos;
  int32_t* n_seq_id;
  int32_t** seq_id;
  int8_t* logits;
};
struct ThreadpoolParams {  // ggml_threadpool_params, filled by ggml_threadpool_params_init
  alignas(8) unsigned char bytes[2048];
};

// enum llama_ftype values (stable in llama.h: they name files).
constexpr int32_t kFtypeMostlyQ4_0 = 2;
constexpr int32_t kFtypeMostlyQ8_0 = 7;
constexpr int32_t kFtypeMostlyQ5_1 = 9;
constexpr int32_t kGgmlTypeF32 = 0;  // enum ggml_type

[[noreturn]] inline void die(const std::string& msg) {
  std::fprintf(stderr, "llama.cpp: %s\n", msg.c_str());
  std::exit(1);
}

template <typename Fn>
Fn sym(void* lib, const char* name) {
  void* p = dlsym(lib, name);
  if (!p) die(std::string("missing symbol ") + name);
  return reinterpret_cast<Fn>(p);
}

// The libraries and the functions the tools call; `lib_dir` is the package's bins/linux-x64.
struct LlamaCpp {
  explicit LlamaCpp(const std::string& lib_dir);

  ModelParams (*model_defaults)();
  void* (*load_model)(const char*, ModelParams);
  ContextParams (*ctx_defaults)();
  void* (*new_context)(void*, ContextParams);
  void (*free_context)(void*);
  void (*free_model)(void*);
  Batch (*batch_one)(int32_t*, int32_t);
  Batch (*batch_init)(int32_t n_tokens, int32_t embd, int32_t n_seq_max);
  void (*batch_free)(Batch);
  int32_t (*decode)(void*, Batch);
  void (*synchronize)(void*);
  float* (*logits_ith)(void*, int32_t);
  void* (*get_memory)(void*);
  void (*memory_clear)(void*, bool);
  void (*set_threads)(void*, int32_t, int32_t);
  int32_t (*n_threads)(void*);
  uint32_t (*n_ctx)(void*);
  uint32_t (*n_ubatch)(void*);
  void (*attach_pool)(void*, void*, void*);
  const char* (*system_info)();
  QuantizeParams (*quantize_defaults)();
  uint32_t (*quantize)(const char*, const char*, const QuantizeParams*);
  void (*pool_init)(ThreadpoolParams*, int);
  void* (*pool_new)(ThreadpoolParams*);

  // A context with these sizes and threads on a persistent thread pool, checked to have taken
  // them. Dies with a message on failure.
  void* context(void* model, uint32_t n_ctx, uint32_t n_batch, int threads);
};

}  // namespace llama_cpp
