#include "llama_cpp_api.h"

#include <algorithm>

namespace llama_cpp {
namespace {

void* open_lib(const std::string& dir, const std::string& name) {
  const std::string path = dir + "/" + name;
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!h) die("cannot open " + path + ": " + dlerror());
  return h;
}

// The file name in `dir` that starts with `prefix` (the libraries carry their version).
std::string find_lib(const std::string& dir, const std::string& prefix) {
  const std::string cmd = "ls '" + dir + "' 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) die("cannot list " + dir);
  char line[512];
  std::string found;
  while (std::fgets(line, sizeof line, p)) {
    std::string name(line);
    name.erase(name.find_last_not_of("\n") + 1);
    if (name.starts_with(prefix) && name.find(".so") != std::string::npos) found = name;
  }
  pclose(p);
  if (found.empty()) die("no " + prefix + "*.so in " + dir);
  return found;
}

}  // namespace

LlamaCpp::LlamaCpp(const std::string& lib_dir) {
  void* ggml_base = open_lib(lib_dir, "libggml-base.so");
  void* ggml = open_lib(lib_dir, find_lib(lib_dir, "libggml."));
  void* llama = open_lib(lib_dir, find_lib(lib_dir, "libllama."));
  sym<void (*)(const char*)>(ggml, "ggml_backend_load_all_from_path")(lib_dir.c_str());
  sym<void (*)()>(llama, "llama_backend_init")();

  model_defaults = sym<decltype(model_defaults)>(llama, "llama_model_default_params");
  load_model = sym<decltype(load_model)>(llama, "llama_model_load_from_file");
  ctx_defaults = sym<decltype(ctx_defaults)>(llama, "llama_context_default_params");
  new_context = sym<decltype(new_context)>(llama, "llama_init_from_model");
  free_context = sym<decltype(free_context)>(llama, "llama_free");
  free_model = sym<decltype(free_model)>(llama, "llama_model_free");
  batch_one = sym<decltype(batch_one)>(llama, "llama_batch_get_one");
  batch_init = sym<decltype(batch_init)>(llama, "llama_batch_init");
  batch_free = sym<decltype(batch_free)>(llama, "llama_batch_free");
  decode = sym<decltype(decode)>(llama, "llama_decode");
  synchronize = sym<decltype(synchronize)>(llama, "llama_synchronize");
  logits_ith = sym<decltype(logits_ith)>(llama, "llama_get_logits_ith");
  get_memory = sym<decltype(get_memory)>(llama, "llama_get_memory");
  memory_clear = sym<decltype(memory_clear)>(llama, "llama_memory_clear");
  set_threads = sym<decltype(set_threads)>(llama, "llama_set_n_threads");
  n_threads = sym<decltype(n_threads)>(llama, "llama_n_threads");
  n_ctx = sym<decltype(n_ctx)>(llama, "llama_n_ctx");
  n_ubatch = sym<decltype(n_ubatch)>(llama, "llama_n_ubatch");
  attach_pool = sym<decltype(attach_pool)>(llama, "llama_attach_threadpool");
  system_info = sym<decltype(system_info)>(llama, "llama_print_system_info");
  quantize_defaults =
      sym<decltype(quantize_defaults)>(llama, "llama_model_quantize_default_params");
  quantize = sym<decltype(quantize)>(llama, "llama_model_quantize");
  pool_init = sym<decltype(pool_init)>(ggml_base, "ggml_threadpool_params_init");
  auto reg_by_name = sym<void* (*)(const char*)>(ggml, "ggml_backend_reg_by_name");
  auto proc_address =
      sym<void* (*)(void*, const char*)>(ggml_base, "ggml_backend_reg_get_proc_address");
  void* cpu = reg_by_name("CPU");
  if (!cpu) die("found no CPU backend in " + lib_dir);
  pool_new = reinterpret_cast<decltype(pool_new)>(proc_address(cpu, "ggml_threadpool_new"));
  if (!pool_new) die("the CPU backend has no ggml_threadpool_new");

  // The documented defaults (llama.h): another layout would not read as these.
  const ContextParams cp = ctx_defaults();
  if (cp.n_ctx != 512 || cp.n_batch != 2048 || cp.n_ubatch != 512 || cp.n_seq_max != 1) {
    die("llama_context_params does not start as expected; this llama.cpp build is not supported");
  }
  const QuantizeParams qp = quantize_defaults();
  // nthread 0, ftype MOSTLY_Q5_1 (MOSTLY_Q8_0 in later versions), then the output and embedding
  // types, both GGML_TYPE_COUNT ("as ftype says").
  if (qp.nthread != 0 || (qp.ftype != kFtypeMostlyQ5_1 && qp.ftype != kFtypeMostlyQ8_0) ||
      qp.output_tensor_type != qp.token_embedding_type || qp.output_tensor_type < 30) {
    die("llama_model_quantize_params does not start as expected; this llama.cpp build is not "
        "supported");
  }
}

void* LlamaCpp::context(void* model, uint32_t ctx_size, uint32_t batch_size, int threads) {
  ContextParams cp = ctx_defaults();
  cp.n_ctx = ctx_size;
  cp.n_batch = std::max<uint32_t>(batch_size, 512);
  cp.n_ubatch = std::min<uint32_t>(cp.n_batch, 512);
  void* ctx = new_context(model, cp);
  if (!ctx) die("llama.cpp could not create a context");
  set_threads(ctx, threads, threads);
  if (n_ctx(ctx) < cp.n_ctx || n_ubatch(ctx) == 0 || n_ubatch(ctx) > cp.n_ubatch ||
      n_threads(ctx) != threads) {
    die("the context did not take its parameters; this llama.cpp build is not supported");
  }
  ThreadpoolParams tpp;
  pool_init(&tpp, threads);
  void* pool = pool_new(&tpp);
  if (!pool) die("ggml_threadpool_new failed");
  attach_pool(ctx, pool, pool);
  return ctx;
}

}  // namespace llama_cpp
