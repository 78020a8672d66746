#include "tests/support/npy.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <vector>

namespace tl::test {
namespace {

// Value of `key` in the header dict: the text after "'key':" up to the next
// top-level comma or closing brace (tuples kept whole).
std::string header_field(const std::string& header, const std::string& key,
                         const std::string& path) {
  const size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) fail(path, ": .npy header has no '", key, "'");
  size_t p = header.find(':', k) + 1;
  while (p < header.size() && header[p] == ' ') ++p;
  int depth = 0;
  size_t e = p;
  for (; e < header.size(); ++e) {
    if (header[e] == '(') ++depth;
    if (header[e] == ')') --depth;
    if (depth == 0 && (header[e] == ',' || header[e] == '}')) break;
  }
  return header.substr(p, e - p + (header[p] == '(' ? 0 : 0));
}

Shape parse_shape(const std::string& text, const std::string& path) {
  Shape shape;
  size_t i = text.find('(');
  if (i == std::string::npos) fail(path, ": bad shape ", text);
  ++i;
  while (i < text.size() && text[i] != ')') {
    while (i < text.size() && (text[i] == ' ' || text[i] == ',')) ++i;
    if (i < text.size() && text[i] == ')') break;
    size_t used = 0;
    shape.push_back(std::stoll(text.substr(i), &used));
    i += used;
  }
  return shape;
}

}  // namespace

Tensor load_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot open");
  char magic[8];
  in.read(magic, 8);
  if (!in || std::memcmp(magic, "\x93NUMPY", 6) != 0) fail(path, ": not a .npy file");
  const int major = static_cast<unsigned char>(magic[6]);
  uint32_t header_len = 0;
  if (major == 1) {
    uint16_t len16 = 0;
    in.read(reinterpret_cast<char*>(&len16), 2);
    header_len = len16;
  } else {
    in.read(reinterpret_cast<char*>(&header_len), 4);
  }
  std::string header(header_len, '\0');
  in.read(header.data(), header_len);
  if (!in) fail(path, ": truncated header");

  const std::string descr = header_field(header, "descr", path);
  if (header_field(header, "fortran_order", path).find("False") == std::string::npos)
    fail(path, ": Fortran order is not supported");
  const Shape shape = parse_shape(header_field(header, "shape", path), path);
  const int64_t n = shape_numel(shape);

  auto read_raw = [&](void* dst, size_t bytes) {
    in.read(static_cast<char*>(dst), static_cast<std::streamsize>(bytes));
    if (!in) fail(path, ": truncated data (expected ", bytes, " bytes)");
  };
  if (descr.find("<f4") != std::string::npos) {
    Tensor t = Tensor::empty(shape, DType::F32);
    read_raw(t.raw_data(), n * 4);
    return t;
  }
  if (descr.find("<f8") != std::string::npos) {
    std::vector<double> buf(n);
    read_raw(buf.data(), n * 8);
    Tensor t = Tensor::empty(shape, DType::F32);
    for (int64_t i = 0; i < n; ++i) t.data<float>()[i] = static_cast<float>(buf[i]);
    return t;
  }
  if (descr.find("<i8") != std::string::npos || descr.find("<i4") != std::string::npos) {
    const bool wide = descr.find("<i8") != std::string::npos;
    Tensor t = Tensor::empty(shape, DType::I32);
    for (int64_t i = 0; i < n; ++i) {
      int64_t v = 0;
      read_raw(&v, wide ? 8 : 4);
      if (!wide) v = static_cast<int32_t>(v);
      t.data<int32_t>()[i] = static_cast<int32_t>(v);
    }
    return t;
  }
  if (descr.find("|u1") != std::string::npos) {
    Tensor t = Tensor::empty(shape, DType::U8);
    read_raw(t.raw_data(), n);
    return t;
  }
  fail(path, ": unsupported dtype ", descr);
}

std::string reference_dir() { return TL_REFERENCE_DIR; }

Tensor load_reference(const std::string& case_name, const std::string& tensor_name) {
  const std::string path = reference_dir() + "/" + case_name + "/" + tensor_name + ".npy";
  std::ifstream probe(path);
  if (!probe)
    fail("PyTorch reference missing: ", path,
         ". It is written at build time by tests/reference/make_reference.py, which needs "
         "/usr/bin/python3 with torch and numpy (scripts/install_deps.sh installs them); "
         "rebuild the 'reference_data' target and read its output.");
  return load_npy(path);
}

}  // namespace tl::test
