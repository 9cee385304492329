// llama.cpp on the same GGUF file and the same cores, measured as llama-bench measures it: a prompt
// of N tokens decoded as one batch (pp), then M tokens one at a time (tg), with a persistent thread
// pool of --threads threads, best and median of --reps. Prints one JSON object.
//
// The library is llama.cpp's own build as the npm package @node-llama-cpp/linux-x64 ships it (its
// CPU backends come in variants per instruction set; the best for this CPU is loaded), pinned in
// bench/llama-cpp/package.json and installed by scripts/bench-vs-llama-cpp.sh. It is opened with
// dlopen and called through its C API, whose few functions and the leading fields of its context
// parameters are declared here (checked at run time: the defaults read back as documented, and
// the context reports the sizes and threads asked for), so nothing of llama.cpp is needed to build
// Osprey.
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

// Larger than any llama.cpp version's structs: returned and passed by value through memory (the
// x86-64 ABI's class for anything over 16 bytes), the callee reads and writes only its own size.
struct ModelParams {
  alignas(8) unsigned char bytes[1024];
};
struct ContextParams {
  // llama_context_params begins n_ctx, n_batch, n_ubatch, n_seq_max; the fields after them have
  // moved between versions (threads are set through llama_set_n_threads instead).
  uint32_t n_ctx, n_batch, n_ubatch, n_seq_max;
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

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "llama_cpp_baseline: %s\n", msg.c_str());
  std::exit(1);
}

void* open_lib(const std::string& dir, const char* name) {
  const std::string path = dir + "/" + name;
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!h) die("cannot open " + path + ": " + dlerror());
  return h;
}

template <typename Fn>
Fn sym(void* lib, const char* name) {
  void* p = dlsym(lib, name);
  if (!p) die(std::string("missing symbol ") + name);
  return reinterpret_cast<Fn>(p);
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

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string lib_dir, model;
  int threads = 2, n_prompt = 512, n_gen = 128, reps = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--lib-dir") {
      lib_dir = v;
    } else if (k == "--model") {
      model = v;
    } else if (k == "--threads") {
      threads = std::atoi(v.c_str());
    } else if (k == "--prompt") {
      n_prompt = std::atoi(v.c_str());
    } else if (k == "--gen") {
      n_gen = std::atoi(v.c_str());
    } else if (k == "--reps") {
      reps = std::atoi(v.c_str());
    } else {
      die("unknown option " + k);
    }
  }
  if (lib_dir.empty() || model.empty() || threads < 1 || n_prompt < 1 || n_gen < 1 || reps < 1) {
    die("usage: --lib-dir DIR --model FILE.gguf [--threads 2] [--prompt 512] [--gen 128] [--reps "
        "3]");
  }

  void* ggml_base = open_lib(lib_dir, "libggml-base.so");
  void* ggml = open_lib(lib_dir, find_lib(lib_dir, "libggml.").c_str());
  void* llama = open_lib(lib_dir, find_lib(lib_dir, "libllama.").c_str());
  sym<void (*)(const char*)>(ggml, "ggml_backend_load_all_from_path")(lib_dir.c_str());
  sym<void (*)()>(llama, "llama_backend_init")();

  auto model_defaults = sym<ModelParams (*)()>(llama, "llama_model_default_params");
  auto load_model = sym<void* (*)(const char*, ModelParams)>(llama, "llama_model_load_from_file");
  auto ctx_defaults = sym<ContextParams (*)()>(llama, "llama_context_default_params");
  auto new_context = sym<void* (*)(void*, ContextParams)>(llama, "llama_init_from_model");
  auto batch_one = sym<Batch (*)(int32_t*, int32_t)>(llama, "llama_batch_get_one");
  auto decode = sym<int32_t (*)(void*, Batch)>(llama, "llama_decode");
  auto synchronize = sym<void (*)(void*)>(llama, "llama_synchronize");
  auto get_memory = sym<void* (*)(void*)>(llama, "llama_get_memory");
  auto memory_clear = sym<void (*)(void*, bool)>(llama, "llama_memory_clear");
  auto set_threads = sym<void (*)(void*, int32_t, int32_t)>(llama, "llama_set_n_threads");
  auto n_threads = sym<int32_t (*)(void*)>(llama, "llama_n_threads");
  auto n_ctx = sym<uint32_t (*)(void*)>(llama, "llama_n_ctx");
  auto n_ubatch = sym<uint32_t (*)(void*)>(llama, "llama_n_ubatch");
  auto attach_pool = sym<void (*)(void*, void*, void*)>(llama, "llama_attach_threadpool");
  auto system_info = sym<const char* (*)()>(llama, "llama_print_system_info");
  auto pool_init = sym<void (*)(ThreadpoolParams*, int)>(ggml_base, "ggml_threadpool_params_init");
  auto reg_by_name = sym<void* (*)(const char*)>(ggml, "ggml_backend_reg_by_name");
  auto proc_address =
      sym<void* (*)(void*, const char*)>(ggml_base, "ggml_backend_reg_get_proc_address");
  void* cpu = reg_by_name("CPU");
  if (!cpu) die("llama.cpp found no CPU backend in " + lib_dir);
  auto pool_new =
      reinterpret_cast<void* (*)(ThreadpoolParams*)>(proc_address(cpu, "ggml_threadpool_new"));
  if (!pool_new) die("the CPU backend has no ggml_threadpool_new");

  ContextParams cp = ctx_defaults();
  // The documented defaults (llama.h): another layout would not read as these.
  if (cp.n_ctx != 512 || cp.n_batch != 2048 || cp.n_ubatch != 512 || cp.n_seq_max != 1) {
    die("llama_context_params does not start as expected; this llama.cpp build is not supported");
  }
  void* m = load_model(model.c_str(), model_defaults());
  if (!m) die("llama.cpp could not load " + model);
  cp.n_ctx = static_cast<uint32_t>(n_prompt + n_gen);
  cp.n_batch = static_cast<uint32_t>(std::max(n_prompt, 512));
  cp.n_ubatch = 512;
  void* ctx = new_context(m, cp);
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

  std::vector<int32_t> prompt(n_prompt);
  for (int i = 0; i < n_prompt; ++i) prompt[i] = 100 + (i * 7919) % 30000;
  auto run_prompt = [&] {
    for (int i = 0; i < n_prompt; i += static_cast<int>(cp.n_batch)) {
      const int n = std::min(n_prompt - i, static_cast<int>(cp.n_batch));
      Batch b = batch_one(prompt.data() + i, n);
      if (b.n_tokens != n || b.token != prompt.data() + i)
        die("llama_batch is not laid out as expected");
      if (decode(ctx, b) != 0) die("llama_decode failed on the prompt");
    }
    synchronize(ctx);
  };
  auto run_gen = [&] {
    int32_t token = 200;
    for (int i = 0; i < n_gen; ++i) {
      if (decode(ctx, batch_one(&token, 1)) != 0) die("llama_decode failed on a token");
      synchronize(ctx);
      token = 100 + (token * 31 + i) % 30000;
    }
  };
  // Warm-up (page faults, thread start), then the measured runs, each from an empty cache as
  // llama-bench runs them: pp<N> alone, tg<M> alone.
  run_prompt();
  memory_clear(get_memory(ctx), false);
  std::vector<double> pp, tg;
  for (int r = 0; r < reps; ++r) {
    double t0 = now();
    run_prompt();
    pp.push_back(n_prompt / (now() - t0));
    memory_clear(get_memory(ctx), false);
    t0 = now();
    run_gen();
    tg.push_back(n_gen / (now() - t0));
    memory_clear(get_memory(ctx), false);
  }
  std::string info = system_info();
  for (char& c : info)
    if (c == '"' || c == '\\' || c == '\n') c = ' ';
  std::printf(
      "{\"engine\": \"llama.cpp\", \"model\": \"%s\", \"threads\": %d, \"prompt\": %d, \"gen\": "
      "%d, "
      "\"pp_tokens_per_s\": %.2f, \"pp_best\": %.2f, \"tg_tokens_per_s\": %.2f, \"tg_best\": %.2f, "
      "\"system_info\": \"%s\"}\n",
      model.c_str(), threads, n_prompt, n_gen, median(pp), *std::max_element(pp.begin(), pp.end()),
      median(tg), *std::max_element(tg.begin(), tg.end()), info.c_str());
  std::fflush(stdout);
  // The process ends here: llama.cpp's objects go with it (freeing them needs more of its API).
  std::_Exit(0);
}
