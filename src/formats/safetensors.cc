#include "formats/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>

#include "core/error.h"

namespace osprey::safetensors {

namespace {

// safetensors' dtype names; only those a model can compute with map to a DType.
std::optional<DType> parse_dtype(const std::string& s) {
  if (s == "F32") return DType::F32;
  if (s == "F16") return DType::F16;
  if (s == "BF16") return DType::BF16;
  if (s == "I8") return DType::I8;
  if (s == "I32") return DType::I32;
  if (s == "I64") return DType::I64;
  return std::nullopt;
}

constexpr uint64_t kMaxHeader = uint64_t{100} << 20;  // the format's own limit is 100 MB

}  // namespace

std::shared_ptr<File> File::open(const std::string& path) {
  auto f = std::shared_ptr<File>(new File());
  f->name_ = path;
  f->file_ = MappedFile::open(path);
  f->data_ = f->file_->data();
  f->size_ = f->file_->size();
  f->parse();
  return f;
}

std::shared_ptr<File> File::from_memory(const uint8_t* data, size_t size, std::string name) {
  auto f = std::shared_ptr<File>(new File());
  f->name_ = std::move(name);
  f->data_ = data;
  f->size_ = size;
  f->parse();
  return f;
}

const TensorInfo* File::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

Tensor File::tensor(const TensorInfo& info) const {
  // The view shares ownership of the mapping, so weights outlive this File object if need be.
  return Tensor::file_view(data_ + data_start_ + info.begin, info.dtype, info.shape, file_);
}

void File::parse() {
  if (size_ < 8)
    invalid_input("{}: file is {} bytes, too short for a safetensors header", name_, size_);
  uint64_t header_len = 0;
  std::memcpy(&header_len, data_, 8);  // little-endian on every platform we build for
  if (header_len > kMaxHeader) {
    invalid_input("{}: header length {} exceeds the 100 MB limit (not a safetensors file?)", name_,
                  header_len);
  }
  if (header_len > size_ - 8) {
    invalid_input("{}: header length {} runs past the end of the file ({} bytes): truncated?",
                  name_, header_len, size_);
  }
  data_start_ = 8 + header_len;
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(data_ + 8, data_ + 8 + header_len);
  } catch (const nlohmann::json::exception& e) {
    invalid_input("{}: header is not valid JSON: {}", name_, e.what());
  }
  if (!header.is_object()) invalid_input("{}: header is not a JSON object", name_);

  const uint64_t data_size = size_ - data_start_;
  for (auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) invalid_input("{}: __metadata__ is not an object", name_);
      for (auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) invalid_input("{}: __metadata__['{}'] is not a string", name_, mk);
        metadata_[mk] = mv.get<std::string>();
      }
      continue;
    }
    const std::string where = fmt::format("{}: tensor '{}'", name_, key);
    if (!value.is_object()) invalid_input("{} is not an object", where);
    auto dt = value.find("dtype");
    auto sh = value.find("shape");
    auto off = value.find("data_offsets");
    if (dt == value.end() || !dt->is_string())
      invalid_input("{}: missing or non-string dtype", where);
    if (sh == value.end() || !sh->is_array())
      invalid_input("{}: missing or non-array shape", where);
    if (off == value.end() || !off->is_array() || off->size() != 2) {
      invalid_input("{}: data_offsets must be [begin, end]", where);
    }
    TensorInfo info;
    info.name = key;
    const auto dtype = parse_dtype(dt->get<std::string>());
    if (!dtype) unsupported("{}: unsupported dtype {}", where, dt->get<std::string>());
    info.dtype = *dtype;
    if (sh->size() > 8) invalid_input("{}: {} dimensions is too many", where, sh->size());
    uint64_t numel = 1;
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned())
        invalid_input("{}: shape entries must be non-negative integers", where);
      const uint64_t v = d.get<uint64_t>();
      if (v > 0 && numel > std::numeric_limits<uint64_t>::max() / 8 / v) {
        invalid_input("{}: shape {} is too large", where, sh->dump());
      }
      numel *= v;
      info.shape.push_back(static_cast<int64_t>(v));
    }
    for (const auto& o : *off) {
      if (!o.is_number_unsigned())
        invalid_input("{}: data_offsets must be non-negative integers", where);
    }
    info.begin = (*off)[0].get<uint64_t>();
    info.end = (*off)[1].get<uint64_t>();
    if (info.begin > info.end)
      invalid_input("{}: data_offsets [{}, {}] are reversed", where, info.begin, info.end);
    if (info.end > data_size) {
      invalid_input(
          "{}: data_offsets end {} is past the end of the data ({} bytes): truncated file?", where,
          info.end, data_size);
    }
    const uint64_t want = numel * dtype_info(info.dtype).block_bytes;
    if (info.end - info.begin != want) {
      invalid_input("{}: shape {} of {} needs {} bytes but data_offsets span {}", where, sh->dump(),
                    dt->get<std::string>(), want, info.end - info.begin);
    }
    index_[key] = tensors_.size();
    tensors_.push_back(std::move(info));
  }
  // Overlapping tensors mean a corrupted or malicious header.
  std::vector<const TensorInfo*> order;
  for (const auto& t : tensors_) order.push_back(&t);
  std::sort(order.begin(), order.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < order.size(); ++i) {
    if (order[i]->begin < order[i - 1]->end) {
      invalid_input("{}: tensors '{}' and '{}' overlap", name_, order[i - 1]->name, order[i]->name);
    }
  }
}

void write(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
           const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    OSPREY_CHECK(!dtype_is_quantized(t.dtype()), "safetensors cannot hold {} tensor '{}'",
                 dtype_name(t.dtype()), name);
    header[name] = {{"dtype", std::string(dtype_name(t.dtype()))},
                    {"shape", t.shape()},
                    {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // keep the data section 8-byte aligned
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) fail(ErrorKind::kIo, "{}: cannot create: {}", path, std::strerror(errno));
  const uint64_t len = h.size();
  bool ok = std::fwrite(&len, 8, 1, f) == 1 && std::fwrite(h.data(), 1, h.size(), f) == h.size();
  for (const auto& [name, t] : tensors) {
    if (!ok) break;
    ok = std::fwrite(t.raw(), 1, t.nbytes(), f) == t.nbytes();
  }
  if (std::fclose(f) != 0 || !ok) fail(ErrorKind::kIo, "{}: write failed", path);
}

}  // namespace osprey::safetensors
