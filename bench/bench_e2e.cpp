// End-to-end speed of ResNet50 + the reference head on the CPU, in images/s,
// of the training step apps/trainer.cpp runs (layers/training_step.h):
//   ops::preprocess_caffe (uint8 32x32 RGB -> the model's resolution, BGR
//   minus the ImageNet means) -> model.forward -> ops::softmax_cross_entropy
//   -> backward -> optimizer.step (Adam, lr 1e-3)
// and of inference as apps/evaluation.cpp runs it (eval mode, no autograd
// recording).
//
// Cases (bench/compare_torch.py runs the same ones in PyTorch):
//   train32   training step, 32x32 input, batch 64   (the CPU acceptance recipe)
//   infer224  inference, 224x224 input, batch 8      (the recipe's resolution)
//   train64   training step, 64x64 input, batch 32
// Each builds a fresh model (Keras initialisation, Flatten head, 10 classes),
// runs --warmup steps untimed, then --iters timed samples; the figure is the
// median step time (robust to a neighbour's compile stealing a core). On a
// GPU a training sample is 10 steps queued back to back, as train_cifar
// queues them, and one wait.
//
//   build/bench/bench_e2e [--only train32,infer224,train64] [--warmup 2]
//                         [--iters 5] [--threads N] [--json PATH]
//
// Threads: --threads, else TL_NUM_THREADS or OMP_NUM_THREADS, else 2. When
// unset, OPENBLAS_CORETYPE=SkylakeX (AVX-512 CPUs) is set first
// (bench/bench_env.h says why).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_env.h"
#include "engine/context.h"
#include "engine/op_timeline.h"
#include "engine/ops.h"
#include "engine/optimizer.h"
#include "kernels/gemm.h"
#include "layers/classifier.h"
#include "layers/training_step.h"
#include "layers/training_step_graph.h"
#include "runtime/check.h"

namespace {

struct Case {
  std::string name, description;
  bool train;
  int64_t image_size, batch;
  bool gpu = false;  // the recipe's full size: run by default on the GPU only
};

const std::vector<Case>& all_cases() {
  static const std::vector<Case> cases = {
      {"train32", "training step, 32x32, batch 64, Adam", true, 32, 64},
      {"infer224", "inference, 224x224 (from 32x32), batch 8", false, 224, 8},
      {"train64", "training step, 64x64 (from 32x32), batch 32, Adam", true, 64, 32},
      {"train224", "training step, 224x224 (from 32x32), batch 64, Adam", true, 224, 64, true},
      {"infer224b64", "inference, 224x224 (from 32x32), batch 64", false, 224, 64, true},
  };
  return cases;
}

struct Options {
  std::vector<std::string> only;
  int warmup = 2, iters = 5, threads = 0;
  std::string json;
  std::string device = "cpu";      // cpu | cuda
  std::string precision = "fp32";  // fp32 | tf32 (cuda) | bf16 (the backbone's activations)
  int profile = 0;                  // training cases: steps to split op by op afterwards
  std::string cuda_graph = "on";    // on | off: training steps replayed as one CUDA graph
  int batch = 0;                    // > 0: every case at this batch size instead of its own
};

struct Result {
  const Case* c;
  int64_t trainable = 0;
  std::vector<double> seconds;  // one per timed iteration
  double median = 0, images_per_second = 0;
  float last_loss = 0;          // training cases: a sanity check (finite)
  std::vector<tl::OpTimeline::Row> split;  // --profile: ms over the profiled steps, per label
  int profiled_steps = 0;
  // GPU training cases, timed steps: how they ran (layers/training_step_graph.h).
  int64_t graph_replays = 0, eager_steps = 0;
  std::string graph_off_reason;
};

[[noreturn]] void usage(int code) {
  std::cout << "usage: bench_e2e [--only CASE[,CASE...]] [--warmup N] [--iters N] [--threads N]\n"
               "                 [--device cpu|cuda] [--precision fp32|tf32|bf16] [--json PATH]\n"
               "                 [--profile N] [--cuda-graph on|off] [--batch N]\n"
               "--profile N: after timing, N more training steps with every op marked\n"
               "             (engine/op_timeline.h): where a step's time goes, op by op\n"
               "             (launched one by one: no CUDA graph while profiling)\n"
               "--cuda-graph on|off: GPU training steps as one CUDA graph, as train_cifar\n"
               "             runs them (layers/training_step_graph.h); default on\n"
               "--batch N:   every case at batch N instead of its own (what a larger\n"
               "             batch buys on a GPU)\n"
               "cases:\n";
  for (const Case& c : all_cases()) std::cout << "  " << c.name << "  " << c.description << "\n";
  std::exit(code);
}

Options parse(int argc, char** argv) {
  Options o;
  auto value = [&](int& i) -> std::string {
    if (i + 1 >= argc) {
      std::cerr << "bench_e2e: " << argv[i] << " needs a value\n";
      std::exit(1);
    }
    return argv[++i];
  };
  auto number = [&](int& i, int min) {
    const std::string flag = argv[i], v = value(i);
    char* end = nullptr;
    const long n = std::strtol(v.c_str(), &end, 10);
    if (end == v.c_str() || *end != '\0' || n < min) {
      std::cerr << "bench_e2e: " << flag << " wants an integer >= " << min << ", got '" << v << "'\n";
      std::exit(1);
    }
    return static_cast<int>(n);
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") usage(0);
    else if (a == "--only") {
      std::stringstream ss(value(i));
      for (std::string name; std::getline(ss, name, ',');) {
        const bool known = std::any_of(all_cases().begin(), all_cases().end(),
                                       [&](const Case& c) { return c.name == name; });
        if (!known) {
          std::cerr << "bench_e2e: unknown case '" << name << "' (see --help)\n";
          std::exit(1);
        }
        o.only.push_back(name);
      }
    } else if (a == "--warmup") o.warmup = number(i, 0);
    else if (a == "--iters") o.iters = number(i, 1);
    else if (a == "--threads") o.threads = number(i, 1);
    else if (a == "--json") o.json = value(i);
    else if (a == "--device") o.device = value(i);
    else if (a == "--precision") o.precision = value(i);
    else if (a == "--profile") o.profile = number(i, 1);
    else if (a == "--cuda-graph") o.cuda_graph = value(i);
    else if (a == "--batch") o.batch = number(i, 1);
    else {
      std::cerr << "bench_e2e: unknown argument '" << a << "' (see --help)\n";
      std::exit(1);
    }
  }
  if (o.device != "cpu" && o.device != "cuda") {
    std::cerr << "bench_e2e: --device wants cpu or cuda, got '" << o.device << "'\n";
    std::exit(1);
  }
  if (o.cuda_graph != "on" && o.cuda_graph != "off") {
    std::cerr << "bench_e2e: --cuda-graph wants on or off, got '" << o.cuda_graph << "'\n";
    std::exit(1);
  }
  if (o.precision != "fp32" && o.precision != "tf32" && o.precision != "bf16") {
    std::cerr << "bench_e2e: --precision wants fp32, tf32 or bf16, got '" << o.precision << "'\n";
    std::exit(1);
  }
  return o;
}

// `c` at another batch size, its description saying so.
Case with_batch(const Case& c, int64_t batch) {
  Case out = c;
  out.batch = batch;
  const std::string old_batch = "batch " + std::to_string(c.batch);
  if (const size_t at = out.description.find(old_batch); at != std::string::npos)
    out.description.replace(at, old_batch.size(), "batch " + std::to_string(batch));
  return out;
}

// A deterministic batch of CIFAR-sized uint8 RGB images and labels.
tl::Tensor make_images(int64_t batch) {
  tl::Tensor t = tl::Tensor::empty({batch, 32, 32, 3}, tl::DType::U8);
  uint8_t* p = t.data<uint8_t>();
  uint32_t s = 12345;
  for (int64_t i = 0; i < t.numel(); ++i) {
    s = s * 1664525u + 1013904223u;
    p[i] = static_cast<uint8_t>(s >> 24);
  }
  return t;
}
tl::Tensor make_labels(int64_t batch) {
  tl::Tensor t = tl::Tensor::empty({batch}, tl::DType::I32);
  for (int64_t i = 0; i < batch; ++i) t.data<int32_t>()[i] = static_cast<int32_t>((i * 7) % 10);
  return t;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

Result measure(const Case& c, const Options& o) {
  tl::Context ctx(o.device == "cuda" ? tl::Device::CUDA : tl::Device::CPU, /*seed=*/0);
  if (o.precision == "tf32") ctx.set_allow_tf32(true);
  tl::ClassifierConfig config;
  config.input_size = c.image_size;  // the Flatten head's width follows it
  config.classes = 10;
  tl::Classifier model(config);
  model.to(ctx);  // no-op on the CPU
  if (o.precision == "bf16") model.set_backbone_dtype(tl::DType::BF16);
  // The batch is on the device before timing starts (train_cifar keeps the
  // training set there too).
  const tl::Tensor images = ctx.to_device(make_images(c.batch)), labels = ctx.to_device(make_labels(c.batch));

  Result r;
  r.c = &c;
  r.trainable = model.count_trainable();
  std::vector<tl::Tensor> params;
  for (const tl::NamedTensor& nt : model.named_parameters())
    if (nt.tensor.requires_grad()) params.push_back(nt.tensor);
  tl::Adam adam({tl::AdamGroup{params, tl::AdamHyper{}}});  // lr 1e-3, eps 1e-7 (Keras's)

  // Training steps are queued as train_cifar queues them: the loss and hits
  // add up on the device (layers/step_metrics.h), read once per timed sample.
  tl::StepMetrics metrics(ctx);
  tl::TrainingStepGraph graph(o.cuda_graph == "on");  // eager on the CPU
  auto step = [&] {
    if (c.train) {
      graph.queue(ctx, model, adam, images, labels, metrics);
    } else {
      tl::NoGradGuard no_grad(ctx);
      const tl::Tensor x = tl::ops::preprocess_caffe(ctx, images, c.image_size, c.image_size);
      const tl::Tensor logits = model.forward(ctx, x);
      (void)logits.to_vector();
    }
  };
  // One timed sample is this many steps, then a wait for the GPU: on a GPU a
  // lone step would time the host's launch latency that the next step's
  // queueing hides in a real run. The CPU runs steps one by one anyway.
  const int steps_per_sample = ctx.device() == tl::Device::CUDA && c.train ? 10 : 1;

  model.train(c.train);
  for (int i = 0; i < o.warmup; ++i) step();
  ctx.synchronize();
  for (int i = 0; i < o.iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int k = 0; k < steps_per_sample; ++k) step();
    ctx.synchronize();  // the GPU's queued work counts
    r.seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
                        steps_per_sample);
  }
  r.graph_replays = graph.replays();
  r.eager_steps = graph.eager_steps();
  r.graph_off_reason = graph.off_reason();
  if (c.train && o.profile > 0) {
    // Timed apart from the figures above: the marks cost launch time, and
    // the steps are launched op by op (no graph) to be marked.
    tl::OpTimeline timeline(ctx);
    ctx.set_timeline(&timeline);
    for (int i = 0; i < o.profile; ++i) step();
    ctx.set_timeline(nullptr);
    r.split = timeline.finish();
    r.profiled_steps = o.profile;
  }
  if (c.train) {
    const tl::StepTotals totals = metrics.read(ctx);
    r.last_loss = totals.last_loss;
    if (totals.first_non_finite >= 0)
      tl::fail("bench_e2e: case ", c.name, ": the loss became ", totals.first_non_finite_loss,
               " at step ", totals.first_non_finite + 1);
  }
  r.median = median(r.seconds);
  r.images_per_second = double(c.batch) / r.median;
  return r;
}

// The per-op split of a profiled case: ms per step and share, largest
// first; the rows under 0.5% folded into one.
void print_split(const Result& r) {
  double total = 0;
  for (const tl::OpTimeline::Row& row : r.split) total += row.ms;
  std::printf("  split of %s over %d profiled step(s): %.2f ms a step\n", r.c->name.c_str(),
              r.profiled_steps, total / r.profiled_steps);
  double rest = 0;
  for (const tl::OpTimeline::Row& row : r.split) {
    if (row.ms < 0.005 * total) {
      rest += row.ms;
      continue;
    }
    std::printf("  %-40s %9.3f ms %5.1f%%  (%lld segments)\n", row.label.c_str(),
                row.ms / r.profiled_steps, 100.0 * row.ms / total,
                static_cast<long long>(row.count / r.profiled_steps));
  }
  if (rest > 0)
    std::printf("  %-40s %9.3f ms %5.1f%%\n", "(the rest, each < 0.5%)", rest / r.profiled_steps,
                100.0 * rest / total);
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "\"";
}

void write_json(const std::string& path, const std::vector<Result>& results, const Options& o,
                int threads) {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::ofstream f(path);
  if (!f) tl::fail("bench_e2e: cannot write --json ", path);
  f << "{\n  \"tool\": \"tl\",\n  \"gemm_backend\": " << json_string(tl::gemm_backend_name())
    << ",\n  \"openblas_coretype\": " << json_string(tl::bench::env_or("OPENBLAS_CORETYPE", ""))
    << ",\n  \"spin_microseconds\": " << tl::cpu_spin_microseconds()
    << ",\n  \"threads\": " << threads << ",\n  \"warmup\": " << o.warmup
    << ",\n  \"iterations\": " << o.iters
    << ",\n  \"max_rss_mb\": " << double(usage.ru_maxrss) / 1024.0 << ",\n  \"cases\": [";
  for (size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    f << (i ? "," : "") << "\n    {\"name\": " << json_string(r.c->name)
      << ", \"description\": " << json_string(r.c->description)
      << ", \"train\": " << (r.c->train ? "true" : "false") << ", \"image_size\": " << r.c->image_size
      << ", \"batch\": " << r.c->batch << ", \"trainable_parameters\": " << r.trainable
      << ", \"seconds\": [";
    for (size_t k = 0; k < r.seconds.size(); ++k) f << (k ? ", " : "") << r.seconds[k];
    f << "], \"median_seconds\": " << r.median << ", \"images_per_second\": " << r.images_per_second;
    if (r.c->train) f << ", \"last_loss\": " << r.last_loss;
    if (r.c->train && o.device == "cuda")
      f << ", \"cuda_graph\": " << json_string(o.cuda_graph) << ", \"graph_replays\": "
        << r.graph_replays << ", \"eager_steps\": " << r.eager_steps
        << ", \"graph_off_reason\": " << json_string(r.graph_off_reason);
    if (!r.split.empty()) {
      f << ", \"profiled_steps\": " << r.profiled_steps << ", \"split_ms_per_step\": {";
      for (size_t k = 0; k < r.split.size(); ++k)
        f << (k ? ", " : "") << json_string(r.split[k].label) << ": "
          << r.split[k].ms / r.profiled_steps;
      f << "}";
    }
    f << "}";
  }
  f << "\n  ]\n}\n";
  if (!f) tl::fail("bench_e2e: error writing --json ", path);
}

}  // namespace

int main(int argc, char** argv) {
  tl::bench::ensure_environment(argv, "bench_e2e");
  const Options o = parse(argc, argv);
  const int used = tl::bench::configure_threads(o.threads);  // the flag beats the environment
  if (o.device == "cuda")
    std::printf("bench_e2e: ResNet50 + reference head (Flatten), CUDA, %s, CUDA graph %s\n",
                o.precision.c_str(), o.cuda_graph.c_str());
  else
    std::printf("bench_e2e: ResNet50 + reference head (Flatten), CPU, %d thread(s) spinning %d us "
                "before they sleep; GEMM %s\n", used, tl::cpu_spin_microseconds(),
                tl::gemm_backend_name());
  std::printf("%-9s %-50s %9s %9s %9s\n", "case", "what", "median ms", "min ms", "images/s");
  std::fflush(stdout);
  std::vector<Result> results;
  try {
    std::deque<Case> at_batch;  // the cases as --batch changed them (results point here)
    for (const Case& listed : all_cases()) {
      if (!o.only.empty() && std::find(o.only.begin(), o.only.end(), listed.name) == o.only.end())
        continue;
      if (o.only.empty() && listed.gpu && o.device != "cuda") continue;  // minutes per step on a CPU
      const Case& c = o.batch > 0 ? at_batch.emplace_back(with_batch(listed, o.batch)) : listed;
      results.push_back(measure(c, o));
      const Result& r = results.back();
      std::printf("%-9s %-50s %9.1f %9.1f %9.2f\n", c.name.c_str(), c.description.c_str(),
                  1e3 * r.median, 1e3 * *std::min_element(r.seconds.begin(), r.seconds.end()),
                  r.images_per_second);
      if (c.train && o.device == "cuda")
        std::printf("  %s: %lld steps replayed from a CUDA graph, %lld eager%s%s\n",
                    c.name.c_str(), static_cast<long long>(r.graph_replays),
                    static_cast<long long>(r.eager_steps),
                    r.graph_off_reason.empty() ? "" : ": ", r.graph_off_reason.c_str());
      if (!r.split.empty()) print_split(r);
      std::fflush(stdout);
    }
    if (!o.json.empty()) {
      write_json(o.json, results, o, used);
      std::printf("wrote %s\n", o.json.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_e2e: %s\n", e.what());
    return 1;
  }
  return 0;
}
