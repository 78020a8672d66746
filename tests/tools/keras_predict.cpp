// keras_predict: the tl side of the real-Keras round-trip check
// (tests/reference/keras/check_keras_roundtrip.py). Not part of the test
// suite: it is run by hand next to a Keras installation.
//
//   keras_predict --model FILE --inputs X.npy --pool avg|flatten --out P.npy [--export PATH]...
//
// Builds ResNet50 + the reference head at X's size, fills it from FILE (any
// Keras weights file tl reads; "random:SEED" for a fresh random model),
// predicts X (float32 (N, S, S, 3), already 'caffe'-preprocessed, as
// Keras's inputs_32.npy) in float32 on the CPU, writes the softmax
// probabilities as a float32 .npy, and exports the model to each --export
// PATH (format by suffix: .h5, .weights.h5, .keras).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "runtime/check.h"
#include "layers/classifier.h"
#include "tests/support/npy.h"
#include "weights/keras_model_file.h"

namespace {

void write_npy_f32(const std::string& path, const std::vector<float>& values, int64_t rows, int64_t cols) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                       std::to_string(cols) + "), }";
  // Magic (6) + version (2) + length (2) + header, padded to 64 with '\n' last.
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const uint16_t len = static_cast<uint16_t>(header.size());
  out.put(static_cast<char>(len & 0xff));
  out.put(static_cast<char>(len >> 8));
  out << header;
  out.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size() * 4));
  if (!out) tl::fail("cannot write '", path, "'");
}

int run(int argc, char** argv) {
  std::string model_file, inputs, pool = "avg", out;
  std::vector<std::string> exports;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--model") model_file = v;
    else if (a == "--inputs") inputs = v;
    else if (a == "--pool") pool = v;
    else if (a == "--out") out = v;
    else if (a == "--export") exports.push_back(v);
    else tl::fail("unknown flag ", a);
  }
  if (model_file.empty() || inputs.empty()) tl::fail("usage: see the comment at the top of keras_predict.cpp");
  const tl::Tensor x = tl::test::load_npy(inputs);
  tl::ClassifierConfig config;
  config.input_size = x.size(1);
  config.pool = pool == "flatten" ? tl::HeadPool::kFlatten : tl::HeadPool::kAverage;
  const bool random = model_file.rfind("random:", 0) == 0;
  if (random) config.seed = std::stoull(model_file.substr(7));
  tl::Classifier model(config);
  if (!random) std::cerr << tl::load_keras_model(model, model_file).summary() << "\n";
  for (const std::string& e : exports) {
    tl::export_keras_model(model, e);
    std::cerr << "exported " << e << "\n";
  }
  if (out.empty()) return 0;
  tl::Context ctx;
  tl::NoGradGuard no_grad(ctx);
  model.eval();
  const tl::Tensor logits = model.forward(ctx, x);
  std::vector<float> z = logits.to_vector();
  const int64_t n = logits.size(0), c = logits.size(1);
  for (int64_t r = 0; r < n; ++r) {
    float* row = z.data() + r * c;
    double max = row[0], sum = 0;
    for (int64_t k = 1; k < c; ++k) max = std::max<double>(max, row[k]);
    std::vector<double> e(c);
    for (int64_t k = 0; k < c; ++k) sum += (e[k] = std::exp(row[k] - max));
    for (int64_t k = 0; k < c; ++k) row[k] = static_cast<float>(e[k] / sum);
  }
  write_npy_f32(out, z, n, c);
  std::cerr << "wrote " << out << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "keras_predict: " << e.what() << "\n";
    return 1;
  }
}
