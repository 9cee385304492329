#include "osprey/llm.h"

#include <map>
#include <string>

#include "core/error.h"

namespace osprey {

LLM::LLM(const EngineConfig& config) : engine_(config) {}

std::vector<RequestOutput> LLM::generate(const std::vector<Prompt>& prompts,
                                         const std::vector<SamplingParams>& params,
                                         const std::vector<int>& priorities,
                                         const std::function<void(size_t, size_t)>& on_progress) {
  if (params.size() != 1 && params.size() != prompts.size()) {
    invalid_input("give one SamplingParams or one per prompt ({} prompts, {} params)",
                  prompts.size(), params.size());
  }
  std::vector<RequestOutput> results(prompts.size());
  std::map<std::string, size_t> index;
  // Only finished outputs are returned: the engine need not copy anything at the other steps.
  auto final_only = [](SamplingParams p) {
    p.output_kind = OutputKind::kFinalOnly;
    return p;
  };
  size_t done = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const std::string id = std::to_string(i);
    try {
      engine_.add_request(id, prompts[i], final_only(params.size() == 1 ? params[0] : params[i]),
                          i < priorities.size() ? priorities[i] : 0);
      index[id] = i;
    } catch (const Error& e) {
      results[i].request_id = id;
      results[i].finished = true;
      results[i].error = e.what();
      ++done;
    }
  }
  while (engine_.has_unfinished()) {
    for (auto& out : engine_.step()) {
      if (!out.finished) continue;
      results[index.at(out.request_id)] = std::move(out);
      ++done;
      if (on_progress) on_progress(done, prompts.size());
    }
  }
  return results;
}

}  // namespace osprey
