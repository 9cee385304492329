#include "tokenizer/post_processor.h"

#include <nlohmann/json.hpp>

#include <string>

#include "core/error.h"
#include "tokenizer/json_util.h"

namespace osprey::tok {

namespace {

class Affix : public PostProcessor {
 public:
  Affix(std::vector<int32_t> prefix, std::vector<int32_t> suffix)
      : prefix_(std::move(prefix)), suffix_(std::move(suffix)) {}
  void process(std::vector<int32_t>& ids) const override {
    ids.insert(ids.begin(), prefix_.begin(), prefix_.end());
    ids.insert(ids.end(), suffix_.begin(), suffix_.end());
  }

 private:
  std::vector<int32_t> prefix_, suffix_;
};

// A template such as [SpecialToken <s>, Sequence A]: ids of the special tokens around the sequence.
std::unique_ptr<PostProcessor> make_template(const nlohmann::json& j, std::string_view where) {
  const auto single = j.find("single");
  if (single == j.end() || !single->is_array()) {
    invalid_input("{}: TemplateProcessing without a 'single' template", where);
  }
  const nlohmann::json specials = j.value("special_tokens", nlohmann::json::object());
  std::vector<int32_t> prefix, suffix;
  bool seen_sequence = false;
  for (const auto& item : *single) {
    if (item.contains("Sequence")) {
      if (seen_sequence) unsupported("{}: TemplateProcessing with two sequences", where);
      seen_sequence = true;
      continue;
    }
    const auto st = item.find("SpecialToken");
    if (st == item.end())
      invalid_input("{}: unknown TemplateProcessing item {}", where, item.dump());
    const std::string name = json_string(*st, "id", where);
    const auto sp = specials.find(name);
    if (sp == specials.end() || !sp->contains("ids")) {
      invalid_input("{}: TemplateProcessing special token '{}' has no ids", where, name);
    }
    for (const auto& id : (*sp)["ids"]) {
      (seen_sequence ? suffix : prefix).push_back(id.get<int32_t>());
    }
  }
  return std::make_unique<Affix>(std::move(prefix), std::move(suffix));
}

// [id] of a ["token", id] pair as BertProcessing/RobertaProcessing store cls and sep.
std::vector<int32_t> pair_id(const nlohmann::json& j, std::string_view key,
                             std::string_view where) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_array() || it->size() != 2) {
    invalid_input("{}: post_processor field '{}' is not a [token, id] pair", where, key);
  }
  return {(*it)[1].get<int32_t>()};
}

class Sequence : public PostProcessor {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PostProcessor>> items) : items_(std::move(items)) {}
  void process(std::vector<int32_t>& ids) const override {
    for (const auto& p : items_) p->process(ids);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> items_;
};

}  // namespace

std::unique_ptr<PostProcessor> make_affix_processor(std::vector<int32_t> prefix,
                                                    std::vector<int32_t> suffix) {
  return std::make_unique<Affix>(std::move(prefix), std::move(suffix));
}

std::unique_ptr<PostProcessor> make_post_processor(const nlohmann::json& j,
                                                   std::string_view where) {
  if (j.is_null()) return nullptr;
  const NestingGuard guard(where, "post_processor");
  const std::string type = json_type(j, where, "post_processor");
  try {
    // ByteLevel only trims offsets, which Osprey does not report.
    if (type == "ByteLevel") return nullptr;
    if (type == "TemplateProcessing") return make_template(j, where);
    if (type == "BertProcessing" || type == "RobertaProcessing") {
      return std::make_unique<Affix>(pair_id(j, "cls", where), pair_id(j, "sep", where));
    }
    if (type == "Sequence") {
      const auto it = j.find("processors");
      if (it == j.end() || !it->is_array()) {
        invalid_input("{}: Sequence post_processor without a 'processors' array", where);
      }
      std::vector<std::unique_ptr<PostProcessor>> items;
      for (const auto& p : *it) {
        if (auto q = make_post_processor(p, where)) items.push_back(std::move(q));
      }
      return std::make_unique<Sequence>(std::move(items));
    }
  } catch (const nlohmann::json::exception& e) {
    invalid_input("{}: malformed {} post_processor: {}", where, type, e.what());
  }
  unsupported("{}: post_processor type '{}' is not supported", where, type);
}

}  // namespace osprey::tok
