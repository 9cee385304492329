// The engine step: schedule -> run the model -> sample -> update the scheduler -> detokenize, check
// stops -> emit outputs. Everything else here is request bookkeeping.
#include "osprey/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include <filesystem>

#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/model_runner.h"
#include "engine/request_state.h"
#include "formats/gguf.h"
#include "kv/kv_cache_manager.h"
#include "model/loader.h"
#include "sched/scheduler.h"
#include "tokenizer/tokenizer.h"

namespace osprey {

using engine::Completion;
using engine::RequestState;

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Random-weight checkpoints have no tokenizer; they run on token ids alone. A tokenizer that is
// there but broken is an error.
std::shared_ptr<const Tokenizer> try_load_tokenizer(const std::string& path) {
  if (std::filesystem::is_directory(path)) {
    if (!std::filesystem::exists(std::filesystem::path(path) / "tokenizer.json")) return nullptr;
    return Tokenizer::from_dir(path);
  }
  auto file = gguf::File::open(path);
  if (!file->find("tokenizer.ggml.model")) return nullptr;
  if (const auto model = file->get_string("tokenizer.ggml.model");
      model == "no_vocab" || model == "none")
    return nullptr;
  return Tokenizer::from_gguf(*file);
}

}  // namespace

struct LLMEngine::Impl {
  EngineConfig config;
  std::unique_ptr<ModelRunner> runner;
  int64_t vocab = 0;
  std::shared_ptr<const Tokenizer> tokenizer;
  std::unique_ptr<kv::KVCacheManager> kv;
  std::unique_ptr<sched::Scheduler> scheduler;
  std::map<std::string, std::unique_ptr<RequestState>> requests;
  std::map<kv::SeqId, std::pair<RequestState*, Completion*>> by_seq;
  std::vector<int32_t> eos_ids;
  int64_t max_model_len = 0;
  kv::SeqId next_seq = 1;
  int64_t prompt_tokens = 0, generation_tokens = 0;
  int64_t num_steps = 0;
  double runner_seconds = 0, host_seconds = 0;
  std::vector<float> logits;
  std::vector<sampling::Drawn> drawn;
  std::vector<sampling::RowDraw> draws;
  std::vector<sampling::LogitEdit> edits;

  Completion* new_completion(RequestState& r, int index);
  void fork_completions(RequestState& r, const float* row);
  // EOS ids and the request's stop_token_ids: masked until min_tokens are generated.
  std::vector<int32_t> stop_ids(const RequestState& r) const;
  SequenceSampler::Result sample_row(const RequestState& r, Completion& c, const float* row) const;
  void sample_into(RequestState& r, Completion& c, const float* row);
  // `runner_drawn`: the runner drew it, so the sampler has yet to record it.
  void accept_token(RequestState& r, Completion& c, const sampling::Drawn& d, bool runner_drawn);
  void check_stop(RequestState& r, Completion& c, int32_t token);
  void finish(RequestState& r, Completion& c, const std::string& reason);
  std::vector<RequestOutput> collect_outputs();
};

LLMEngine::LLMEngine(const EngineConfig& config) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.config = resolve_backend_defaults(config);
  const EngineConfig& cfg = m.config;
  ThreadPool::set_global_threads(cfg.threads);
  if (cfg.block_size <= 0 || cfg.block_size > 1024)
    invalid_input("block_size must be in [1, 1024]");
  const ModelConfig pre = load_config(cfg.model);
  m.max_model_len = cfg.max_model_len > 0 ? std::min(cfg.max_model_len, pre.max_position_embeddings)
                                          : pre.max_position_embeddings;
  m.runner = make_model_runner(cfg, m.max_model_len);
  m.tokenizer = try_load_tokenizer(cfg.model);
  const ModelConfig& mc = m.runner->config();
  m.vocab = mc.vocab_size;
  m.eos_ids = mc.eos_token_ids;
  if (m.tokenizer) {
    for (int32_t id : m.tokenizer->stop_ids()) {
      if (std::find(m.eos_ids.begin(), m.eos_ids.end(), id) == m.eos_ids.end())
        m.eos_ids.push_back(id);
    }
  }
  m.kv = std::make_unique<kv::KVCacheManager>(m.runner->num_kv_blocks(), cfg.block_size,
                                              cfg.enable_prefix_caching);
  sched::SchedulerConfig sc;
  sc.max_num_seqs = cfg.max_num_seqs;
  sc.max_num_batched_tokens = cfg.max_num_batched_tokens;
  sc.max_model_len = m.max_model_len;
  sc.max_waiting = cfg.max_waiting;
  sc.chunked_prefill = cfg.chunked_prefill;
  if (cfg.policy == "priority") {
    sc.policy = sched::Policy::kPriority;
  } else if (cfg.policy != "fcfs") {
    invalid_input("scheduling policy must be 'fcfs' or 'priority', not '{}'", cfg.policy);
  }
  m.scheduler = std::make_unique<sched::Scheduler>(sc, *m.kv);
}

LLMEngine::~LLMEngine() = default;

Completion* LLMEngine::Impl::new_completion(RequestState& r, int index) {
  auto c = std::make_unique<Completion>();
  c->seq.id = next_seq++;
  c->seq.priority = r.priority;
  c->sampler = std::make_unique<SequenceSampler>(r.params, r.prompt, static_cast<uint32_t>(index));
  if (tokenizer) {
    c->detok = std::make_unique<IncrementalDetokenizer>(tokenizer, r.params.skip_special_tokens);
  }
  c->stops = std::make_unique<StopStrings>(r.params.stop, r.params.include_stop_str_in_output);
  c->out.index = index;
  Completion* raw = c.get();
  by_seq[raw->seq.id] = {&r, raw};
  r.completions.push_back(std::move(c));
  return raw;
}

void LLMEngine::add_request(const std::string& id, const Prompt& prompt,
                            const SamplingParams& params, int priority) {
  Impl& m = *impl_;
  if (m.requests.count(id)) invalid_input("request id '{}' is already in use", id);
  params.validate(m.vocab);
  if (!params.stop.empty() && !m.tokenizer) {
    invalid_input("stop strings need a tokenizer, and this model has none");
  }
  auto r = std::make_unique<RequestState>();
  r->id = id;
  r->params = params;
  r->priority = priority;
  if (prompt.text) {
    if (!m.tokenizer) invalid_input("this model has no tokenizer: give the prompt as token ids");
    r->prompt = m.tokenizer->encode(*prompt.text, /*add_special_tokens=*/true);
  } else {
    r->prompt = prompt.token_ids;
  }
  if (r->prompt.empty()) invalid_input("the prompt is empty");
  const int64_t vocab = m.vocab;
  for (int32_t t : r->prompt) {
    if (t < 0 || t >= vocab)
      invalid_input("prompt token id {} is outside the vocabulary (size {})", t, vocab);
  }
  if (static_cast<int64_t>(r->prompt.size()) >= m.max_model_len) {
    invalid_input(
        "the prompt has {} tokens; the maximum context is {} (prompt plus at least one new token)",
        r->prompt.size(), m.max_model_len);
  }
  r->arrival_time = now_seconds();
  Completion* first = m.new_completion(*r, 0);
  first->seq.tokens = r->prompt;
  first->seq.num_prompt_tokens = static_cast<int64_t>(r->prompt.size());
  try {
    m.scheduler->add(&first->seq);
  } catch (...) {
    m.by_seq.erase(first->seq.id);
    throw;
  }
  m.prompt_tokens += static_cast<int64_t>(r->prompt.size());
  m.requests[id] = std::move(r);
}

void LLMEngine::abort(const std::string& id) {
  Impl& m = *impl_;
  auto it = m.requests.find(id);
  if (it == m.requests.end()) return;
  RequestState& r = *it->second;
  for (auto& c : r.completions) {
    if (!c->finished) m.finish(r, *c, "abort");
  }
  r.aborted = true;
}

void LLMEngine::Impl::finish(RequestState& r, Completion& c, const std::string& reason) {
  c.finished = true;
  c.out.finish_reason = reason;
  if (reason != "abort") {
    // Text held back as a possible stop string start, and any incomplete character, is final now.
    std::string tail = c.detok ? c.detok->finish() : std::string();
    auto res = c.stops->push(tail);
    c.out.text += res.emit + c.stops->flush();
    c.out.delta_text += res.emit;
  }
  scheduler->finish(&c.seq);
  r.changed = true;
  if (r.finished()) r.finished_time = now_seconds();
}

void LLMEngine::Impl::check_stop(RequestState& r, Completion& c, int32_t token) {
  const SamplingParams& p = r.params;
  // Text first: a stop string may end the completion inside this token's text.
  if (c.detok) {
    auto res = c.stops->push(c.detok->push(token));
    c.out.text += res.emit;
    c.out.delta_text += res.emit;
    if (res.stopped) {
      c.out.stop_reason = res.which;
      c.stops = std::make_unique<StopStrings>(std::vector<std::string>{}, false);
      return finish(r, c, "stop");
    }
  }
  const int64_t generated = static_cast<int64_t>(c.out.token_ids.size());
  if (generated >= p.min_tokens) {
    const bool is_eos = std::find(eos_ids.begin(), eos_ids.end(), token) != eos_ids.end();
    const bool is_stop_id = std::find(p.stop_token_ids.begin(), p.stop_token_ids.end(), token) !=
                            p.stop_token_ids.end();
    if ((is_eos && !p.ignore_eos) || is_stop_id) {
      if (is_stop_id) c.out.stop_token_id = token;
      return finish(r, c, "stop");
    }
  }
  if (generated >= p.max_tokens || c.seq.num_tokens() >= max_model_len) finish(r, c, "length");
}

// Thread-safe across completions: touches only `c`'s sampler and this thread's scratch.
SequenceSampler::Result LLMEngine::Impl::sample_row(const RequestState& r, Completion& c,
                                                    const float* row) const {
  thread_local std::vector<float> scratch;
  scratch.assign(row, row + vocab);
  return c.sampler->sample(scratch, stop_ids(r));
}

std::vector<int32_t> LLMEngine::Impl::stop_ids(const RequestState& r) const {
  std::vector<int32_t> ids = eos_ids;
  ids.insert(ids.end(), r.params.stop_token_ids.begin(), r.params.stop_token_ids.end());
  return ids;
}

void LLMEngine::Impl::sample_into(RequestState& r, Completion& c, const float* row) {
  accept_token(r, c, sample_row(r, c, row), false);
}

void LLMEngine::Impl::accept_token(RequestState& r, Completion& c, const sampling::Drawn& d,
                                   bool runner_drawn) {
  const int32_t token = d.token;
  if (runner_drawn) c.sampler->append(token);  // sample() records its own
  c.seq.tokens.push_back(token);
  c.out.token_ids.push_back(token);
  if (r.params.logprobs) c.out.logprobs.push_back({token, d.logprob, d.top_logprobs});
  ++generation_tokens;
  if (r.first_token_time == 0) r.first_token_time = now_seconds();
  r.changed = true;
  check_stop(r, c, token);
}

// n > 1: once the first completion has computed the prompt, the others share its blocks (the KV
// manager copies a shared block on the first write) and sample from the same logits.
void LLMEngine::Impl::fork_completions(RequestState& r, const float* row) {
  r.forked = true;
  Completion& first = *r.completions[0];
  for (int i = 1; i < r.params.n; ++i) {
    Completion* c = new_completion(r, i);
    c->seq.tokens = first.seq.tokens;
    c->seq.num_prompt_tokens = first.seq.num_prompt_tokens;
    c->seq.num_computed = first.seq.num_computed;
    kv->fork(first.seq.id, c->seq.id);
    scheduler->add_running(&c->seq);
    sample_into(r, *c, row);
  }
}

std::vector<RequestOutput> LLMEngine::step() {
  Impl& m = *impl_;
  using Clock = std::chrono::steady_clock;
  const auto t_step = Clock::now();
  Clock::duration in_runner{};
  sched::SchedulerOutput plan = m.scheduler->schedule();
  const bool worked = !plan.empty();
  if (worked) {
    for (auto [src, dst] : m.kv->take_pending_copies()) m.runner->copy_block(src, dst);
    RunnerBatch batch;
    // Sequences whose chunk reaches the end of their tokens sample one; mid-prompt chunks do not.
    struct Pick {
      size_t row;
      RequestState* r;
      Completion* c;
      bool forks;  // n > 1: the first sample forks the other completions
    };
    std::vector<Pick> picks;
    bool on_runner = m.config.sample_on_runner;  // else the host's samplers draw
    for (size_t i = 0; i < plan.scheduled.size(); ++i) {
      const auto& s = plan.scheduled[i];
      const auto& toks = s.seq->tokens;
      batch.tokens.insert(batch.tokens.end(), toks.begin() + s.seq->num_computed,
                          toks.begin() + s.seq->num_computed + s.num_tokens);
      batch.seqs.push_back({s.seq->num_computed, s.num_tokens, m.kv->block_table(s.seq->id)});
      auto [r, c] = m.by_seq.at(s.seq->id);
      if (!r->admitted && c == r->completions[0].get()) {
        r->admitted = true;
        r->cached_prompt_tokens = s.seq->num_computed;  // what the prefix cache supplied
      }
      if (s.seq->num_computed + s.num_tokens < s.seq->num_tokens() || c->finished) continue;
      const bool forks = !r->forked && r->params.n > 1 && c == r->completions[0].get();
      picks.push_back({i, r, c, forks});
      on_runner = on_runner && !forks;
    }
    if (on_runner) {
      m.draws.assign(plan.scheduled.size(), {});  // rows that do not sample: greedy, ignored
      m.edits.clear();
      for (const Pick& p : picks)
        m.draws[p.row] = p.c->sampler->next_draw(m.stop_ids(*p.r), m.edits);
      m.drawn.resize(plan.scheduled.size());
      const auto t_run = Clock::now();
      m.runner->forward_sample(batch, m.draws, m.edits, m.drawn);
      in_runner = Clock::now() - t_run;
      m.scheduler->update(plan);
      for (const Pick& p : picks) m.accept_token(*p.r, *p.c, m.drawn[p.row], true);
    } else {
      m.logits.resize(plan.scheduled.size() * m.vocab);
      const auto t_run = Clock::now();
      m.runner->forward(batch, m.logits.data());
      in_runner = Clock::now() - t_run;
      m.scheduler->update(plan);
      // Sequences sample independently (own generator, own penalty state), so the rows are drawn
      // in parallel; the bookkeeping after (detokenizing, stops, finishing) stays in order.
      std::vector<SequenceSampler::Result> results(picks.size());
      ThreadPool::global().parallel_for(
          static_cast<int64_t>(picks.size()), [&](int64_t b, int64_t e) {
            for (int64_t k = b; k < e; ++k) {
              const Pick& p = picks[k];
              if (!p.forks)
                results[k] = m.sample_row(*p.r, *p.c, m.logits.data() + p.row * m.vocab);
            }
          });
      for (size_t k = 0; k < picks.size(); ++k) {
        const Pick& p = picks[k];
        if (p.forks) {
          // Fork before the first completion samples, so the others start from the prompt alone.
          const float* row = m.logits.data() + p.row * m.vocab;
          m.fork_completions(*p.r, row);
          results[k] = m.sample_row(*p.r, *p.c, row);
        }
        m.accept_token(*p.r, *p.c, results[k], false);
      }
    }
  }
  auto outs = m.collect_outputs();
  if (worked) {
    ++m.num_steps;
    const double runner = std::chrono::duration<double>(in_runner).count();
    m.runner_seconds += runner;
    m.host_seconds += std::chrono::duration<double>(Clock::now() - t_step).count() - runner;
  }
  return outs;
}

namespace {

// `out` without its cumulative parts: the tokens and logprobs from `from` on, the new text.
CompletionOutput delta_of(CompletionOutput& out, size_t from) {
  std::vector<int32_t> ids = std::move(out.token_ids);
  std::vector<TokenLogprob> logprobs = std::move(out.logprobs);
  std::string text = std::move(out.text);
  CompletionOutput d = out;  // the small fields only
  d.token_ids.assign(ids.begin() + static_cast<std::ptrdiff_t>(from), ids.end());
  if (logprobs.size() >= from)
    d.logprobs.assign(logprobs.begin() + static_cast<std::ptrdiff_t>(from), logprobs.end());
  d.text = d.delta_text;
  out.token_ids = std::move(ids), out.logprobs = std::move(logprobs), out.text = std::move(text);
  return d;
}

}  // namespace

std::vector<RequestOutput> LLMEngine::Impl::collect_outputs() {
  std::vector<RequestOutput> outs;
  for (auto it = requests.begin(); it != requests.end();) {
    RequestState& r = *it->second;
    const OutputKind kind = r.params.output_kind;
    if (!r.changed || (kind == OutputKind::kFinalOnly && !r.finished())) {
      ++it;
      continue;
    }
    r.changed = false;
    RequestOutput o;
    o.request_id = r.id;
    if (kind != OutputKind::kDelta || !r.reported) o.prompt_token_ids = r.prompt;
    r.reported = true;
    o.finished = r.finished();
    o.error = r.error;
    o.num_cached_prompt_tokens = r.cached_prompt_tokens;
    o.arrival_time = r.arrival_time;
    o.first_token_time = r.first_token_time;
    o.finished_time = r.finished_time;
    for (auto& c : r.completions) {
      CompletionOutput co =
          kind == OutputKind::kDelta ? delta_of(c->out, c->reported_tokens) : c->out;
      co.num_new_tokens = c->out.token_ids.size() - c->reported_tokens;
      c->reported_tokens = c->out.token_ids.size();
      c->out.delta_text.clear();
      o.outputs.push_back(std::move(co));
    }
    outs.push_back(std::move(o));
    if (r.finished()) {
      for (auto& c : r.completions) by_seq.erase(c->seq.id);
      it = requests.erase(it);
    } else {
      ++it;
    }
  }
  return outs;
}

bool LLMEngine::has_unfinished() const {
  return !impl_->requests.empty();
}
std::shared_ptr<const Tokenizer> LLMEngine::tokenizer() const {
  return impl_->tokenizer;
}
int64_t LLMEngine::vocab_size() const {
  return impl_->vocab;
}
int64_t LLMEngine::max_model_len() const {
  return impl_->max_model_len;
}
const EngineConfig& LLMEngine::config() const {
  return impl_->config;
}

EngineStats LLMEngine::stats() const {
  const Impl& m = *impl_;
  EngineStats s;
  s.num_running = m.scheduler->num_running();
  s.num_waiting = m.scheduler->num_waiting();
  s.kv_usage = m.kv->usage();
  s.num_blocks = m.kv->num_blocks();
  const auto ps = m.kv->stats();
  s.prefix_queries = ps.queries;
  s.prefix_hits = ps.hits;
  s.num_preemptions = m.scheduler->num_preemptions();
  s.prompt_tokens = m.prompt_tokens;
  s.num_steps = m.num_steps;
  s.runner_seconds = m.runner_seconds;
  s.host_seconds = m.host_seconds;
  s.generation_tokens = m.generation_tokens;
  for (const auto& [id, rc] : m.by_seq) {
    const Completion* c = rc.second;
    if (c->seq.status != sched::SeqStatus::kRunning) continue;
    s.kv_tokens += c->seq.num_computed;
    s.kv_token_slots += static_cast<int64_t>(m.kv->block_table(id).size()) * m.config.block_size;
  }
  return s;
}

}  // namespace osprey
