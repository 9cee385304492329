// The forward pass's matmuls: Y[M][N] (+)= X[M][K] * W[N][K]^T with row-major X, Y and weights
// stored as Hugging Face does (out_features x in_features). bf16 inputs run on the tensor cores
// with f32 accumulation; f32 inputs run plain f32 (no TF32) for the strict mode.
//
// cuBLAS's default algorithm choice leaves bandwidth unused on the skinny shapes of a decode step
// (M = batch size, the weights streamed once per step), so the shapes that recur every step (the
// decode graphs' batch sizes, full prefill chunks) are tuned once at start: cuBLASLt's candidate
// algorithms for the shape are timed against the default and the fastest whose result repeats bit
// for bit is kept. Untuned shapes take the default. Shapes with M <= 128 also time Osprey's own
// weight-streaming kernel (stream_gemm) at each split of K, kept where it is fastest and its
// output agrees with cuBLAS's (OSPREY_CUDA_STREAM_GEMM=0 leaves it out, for comparisons; =force
// keeps it wherever it agrees, fast or not, for tests).
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>

#include <map>
#include <span>
#include <tuple>

namespace osprey::cuda {

class Gemm {
 public:
  explicit Gemm(cudaStream_t stream);
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  void operator()(const void* X, int M, int K, const void* W, int N, void* Y, bool inputs_bf16,
                  bool y_f32, bool accumulate);

  // act[M][N / 2] = silu(gate) * up of the (gate, up) row pairs' product in one kernel, where
  // tuning (with swiglu_after) found the streaming kernel's SwiGLU epilogue faster than the GEMM
  // followed by silu_mul, and in agreement with them; false, with nothing run, elsewhere (then
  // run the GEMM and silu_mul).
  bool swiglu(const void* X, int M, int K, const void* W, int N, void* act);

  // Times the candidates for this bf16 shape (Y is overwritten, X and the weights only read) and
  // keeps the fastest. Runs cycle through `Ws` (matrices of the same shape, e.g. every layer's) so
  // that small matrices are not timed from L2. With `swiglu_after` (a (gate, up) projection whose
  // output goes to silu_mul), the fused epilogue is timed against the pair too. Call outside
  // graph capture.
  struct Timing {
    double default_ms, chosen_ms;
    double cublas_ms = 0;    // the fastest cuBLAS(Lt) algorithm
    double stream_ms = 0;    // the streaming kernel's fastest split, 0 where it was not timed
    int stream_splits = 0;   // that split where it was chosen, else 0
    int stream_variant = 0;  // and its tile variant (stream_gemm_variants)
    double silu_ms = 0, swiglu_ms = 0;  // silu_mul alone; the fused epilogue's fastest split
    int swiglu_splits = 0;              // that split where the fused path was chosen, else 0
    int swiglu_variant = 0;
  };
  Timing tune(const void* X, int M, int K, std::span<const void* const> Ws, int N, void* Y,
              bool y_f32, bool swiglu_after = false);
  int tuned_shapes() const { return static_cast<int>(plans_.size()); }
  int stream_shapes() const;  // tuned shapes that run stream_gemm (plain or fused)

 private:
  struct Plan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
    bool use_lt = false;    // false: the default algorithm measured at least as fast
    int stream_splits = 0;  // > 0: stream_gemm with this split of K instead of cuBLAS
    int swiglu_splits = 0;  // > 0: Gemm::swiglu runs stream_gemm's SwiGLU with this split
    int stream_variant = 0, swiglu_variant = 0;  // their tile variants
  };
  using Key = std::tuple<int, int, int, bool>;  // M, N, K, y_f32
  Plan make_plan(int M, int N, int K, bool y_f32) const;
  static void destroy(Plan& p);
  void run_default(const void* X, int M, int K, const void* W, int N, void* Y, bool inputs_bf16,
                   bool y_f32, bool accumulate) const;
  bool run_lt(const Plan& p, const cublasLtMatmulAlgo_t& algo, const void* X, const void* W,
              void* Y, bool accumulate) const;
  enum class StreamMode { kOff, kAuto, kForce };
  static StreamMode stream_mode();  // from OSPREY_CUDA_STREAM_GEMM, read at each tune
  void run_stream(const void* X, int M, int K, const void* W, int N, void* Y, bool y_f32,
                  bool accumulate, int splits, int variant, bool swiglu = false) const;
  // Whether stream_gemm with `splits` gives cuBLAS's result (to bf16/f32 rounding) and repeats it
  // bit for bit: a kernel not yet run on this GPU model proves itself before it is used.
  bool stream_agrees(const void* X, int M, int K, const void* W, int N, void* Y, bool y_f32,
                     int splits, int variant) const;
  // The same for its SwiGLU epilogue against cuBLAS followed by silu_mul (bf16 outputs).
  bool swiglu_agrees(const void* X, int M, int K, const void* W, int N, void* Y, int splits,
                     int variant) const;
  unsigned long long output_hash(const void* Y, size_t bytes) const;

  cudaStream_t stream_;
  cublasHandle_t blas_ = nullptr;
  cublasLtHandle_t lt_ = nullptr;
  void* workspace_ = nullptr;
  unsigned long long* hash_ = nullptr;  // device scratch for output_hash
  int* stream_counters_ = nullptr;      // stream_gemm's per-tile counters (its partial sums use
                                        // workspace_: one stream runs one GEMM at a time)

  std::map<Key, Plan> plans_;
};

}  // namespace osprey::cuda
