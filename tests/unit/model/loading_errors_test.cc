// Damaged or unsupported model folders fail with one clear error naming the file and the problem.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/safetensors.h"
#include "model/loader.h"
#include "model/random_model.h"

namespace osprey {
namespace {

namespace fs = std::filesystem;

class LoadingErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("osprey-load-" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    write_random_hf_model(model_preset("tiny"), DType::F32, 7, dir_.string());
  }
  void TearDown() override { fs::remove_all(dir_); }

  nlohmann::json config() const {
    std::ifstream in(dir_ / "config.json");
    return nlohmann::json::parse(in);
  }
  void set_config(const nlohmann::json& j) const {
    std::ofstream(dir_ / "config.json") << j.dump();
  }

  void expect_load_error(ErrorKind kind, const std::string& names, const std::string& what) const {
    try {
      load_model(dir_.string(), {.progress = false});
      FAIL() << "loaded; expected: " << what;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), kind) << e.what();
      EXPECT_NE(std::string(e.what()).find(names), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  }

  fs::path dir_;
};

TEST_F(LoadingErrors, TheRandomModelLoads) {
  EXPECT_NO_THROW(load_model(dir_.string(), {.progress = false}));
}

TEST_F(LoadingErrors, UnknownArchitecture) {
  auto j = config();
  j["architectures"] = {"GPTBigCodeForCausalLM"};
  set_config(j);
  expect_load_error(ErrorKind::kUnsupported, "config.json",
                    "unknown architecture 'GPTBigCodeForCausalLM'");
}

TEST_F(LoadingErrors, ConfigIsNotJson) {
  std::ofstream(dir_ / "config.json") << "{\"architectures\": [";
  expect_load_error(ErrorKind::kInvalidInput, "config.json", "not valid JSON");
}

TEST_F(LoadingErrors, ConfigFieldMissingOrMistyped) {
  auto j = config();
  j.erase("hidden_size");
  set_config(j);
  expect_load_error(ErrorKind::kInvalidInput, "config.json",
                    "missing required field 'hidden_size'");
  j = config();
  j["hidden_size"] = 64;
  j["num_hidden_layers"] = "two";
  set_config(j);
  expect_load_error(ErrorKind::kInvalidInput, "config.json",
                    "'num_hidden_layers' has the wrong type");
}

TEST_F(LoadingErrors, InconsistentHeads) {
  auto j = config();
  j["num_key_value_heads"] = 3;
  set_config(j);
  expect_load_error(ErrorKind::kInvalidInput, "config.json",
                    "not a multiple of num_key_value_heads");
}

TEST_F(LoadingErrors, UnsupportedRopeScaling) {
  auto j = config();
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  set_config(j);
  expect_load_error(ErrorKind::kUnsupported, "config.json", "rope type 'yarn' is not supported");
}

TEST_F(LoadingErrors, WeightShapeDisagreesWithConfig) {
  auto j = config();
  j["intermediate_size"] = 100;
  set_config(j);
  expect_load_error(ErrorKind::kInvalidInput, "model.layers.0.mlp.gate_proj.weight",
                    "has shape [176, 64], expected [100, 64]");
}

TEST_F(LoadingErrors, MissingTensor) {
  auto j = config();
  j["tie_word_embeddings"] = false;
  j["num_hidden_layers"] = 3;
  set_config(j);
  expect_load_error(ErrorKind::kInvalidInput, dir_.string(), "missing tensor 'model.layers.2.");
}

TEST_F(LoadingErrors, NoWeights) {
  fs::remove(dir_ / "model.safetensors");
  expect_load_error(ErrorKind::kIo, dir_.string(), "no model.safetensors");
}

TEST_F(LoadingErrors, MissingShard) {
  // Turn the single file into a sharded checkpoint whose index names a second, absent shard.
  fs::rename(dir_ / "model.safetensors", dir_ / "model-00001-of-00002.safetensors");
  auto f = safetensors::File::open((dir_ / "model-00001-of-00002.safetensors").string());
  nlohmann::json index = {{"metadata", {{"total_size", 0}}},
                          {"weight_map", nlohmann::json::object()}};
  for (const auto& t : f->tensors())
    index["weight_map"][t.name] = "model-00001-of-00002.safetensors";
  index["weight_map"]["model.norm.weight"] = "model-00002-of-00002.safetensors";
  std::ofstream(dir_ / "model.safetensors.index.json") << index.dump();
  expect_load_error(ErrorKind::kIo, "model-00002-of-00002.safetensors", "is missing");
}

TEST_F(LoadingErrors, ShardedCheckpointLoads) {
  // Split the tensors over two shards and check the model still loads and runs.
  auto f = safetensors::File::open((dir_ / "model.safetensors").string());
  std::vector<std::pair<std::string, Tensor>> a, b;
  nlohmann::json index = {{"weight_map", nlohmann::json::object()}};
  int i = 0;
  for (const auto& t : f->tensors()) {
    const bool first = i++ % 2 == 0;
    (first ? a : b).emplace_back(t.name, f->tensor(t).to_f32());
    index["weight_map"][t.name] =
        first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  safetensors::write((dir_ / "model-00001-of-00002.safetensors").string(), a);
  safetensors::write((dir_ / "model-00002-of-00002.safetensors").string(), b);
  std::ofstream(dir_ / "model.safetensors.index.json") << index.dump();
  f.reset();
  fs::remove(dir_ / "model.safetensors");
  EXPECT_NO_THROW(load_model(dir_.string(), {.progress = false}));
}

TEST_F(LoadingErrors, TruncatedWeights) {
  const auto p = dir_ / "model.safetensors";
  fs::resize_file(p, fs::file_size(p) - 100);
  expect_load_error(ErrorKind::kInvalidInput, "model.safetensors", "truncated");
}

TEST(Loading, PathThatIsNeither) {
  try {
    load_model("/nonexistent-model-path");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("/nonexistent-model-path"), std::string::npos);
  }
}

}  // namespace
}  // namespace osprey
