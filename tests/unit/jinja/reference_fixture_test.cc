// Real chat templates rendered by Jinja2 3.1.2 with Hugging Face's settings
// (tests/fixtures/chat-templates/reference.json): every render must match byte for byte, and every
// render Jinja2 refused must fail here too, with the same message.
#include <gtest/gtest.h>

#include "jinja/chat_template.h"
#include "jinja/error.h"
#include "test_util.h"

namespace osprey::jinja {
namespace {

using nlohmann::ordered_json;

TEST(ChatTemplateReference, AllTemplatesAllCases) {
  const auto ref =
      ordered_json::parse(testing::read_file(OSPREY_FIXTURES "/chat-templates/reference.json"));
  const auto& meta = ref["meta"];
  int passed = 0, total = 0;
  for (const auto& [name, entry] : ref["templates"].items()) {
    std::unique_ptr<ChatTemplate> tmpl;
    try {
      tmpl = std::make_unique<ChatTemplate>(entry["template"].get<std::string>());
    } catch (const Error& e) {
      ADD_FAILURE() << name << ": parse failed: " << e.what();
      total += static_cast<int>(entry["renders"].size());
      continue;
    }
    for (const auto& r : entry["renders"]) {
      ++total;
      const std::string case_name = r["case"];
      ChatTemplateOptions opts;
      opts.add_generation_prompt = r["add_generation_prompt"];
      opts.bos_token = "<BOS>";
      opts.eos_token = "<EOS>";
      opts.clock = testing::fixed_clock;
      if (case_name == "tools") opts.tools = meta["tools"];
      const std::string where =
          name + " [" + case_name + (opts.add_generation_prompt ? ", gen]" : "]");
      try {
        const std::string out = tmpl->render(meta["cases"][case_name], opts);
        if (r.contains("error")) {
          ADD_FAILURE() << where << ": expected error " << r["error"] << ", got text";
        } else if (out != r["text"].get<std::string>()) {
          ADD_FAILURE() << where << ": mismatch\n--- expected\n"
                        << r["text"].get<std::string>() << "\n--- got\n"
                        << out;
        } else {
          ++passed;
        }
      } catch (const TemplateError& e) {
        if (!r.contains("error")) {
          ADD_FAILURE() << where << ": unexpected error " << e.what();
        } else {
          const std::string expected = r["error"];
          const std::string got = e.type() + ": " + e.message();
          if (got == expected)
            ++passed;
          else
            ADD_FAILURE() << where << ": expected error '" << expected << "', got '" << got << "'";
        }
      }
    }
  }
  std::printf("chat-template reference renders: %d/%d passed\n", passed, total);
  EXPECT_EQ(passed, total);
}

}  // namespace
}  // namespace osprey::jinja
