#include "apps/trainer.h"

#include <chrono>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "apps/evaluation.h"
#include "apps/interrupts.h"
#include "apps/json.h"
#include "apps/memory_estimate.h"
#include "apps/progress.h"
#include "apps/schedule.h"
#include "data/device_loader.h"
#include "data/loader.h"
#include "layers/feature_cache.h"
#include "layers/training_step.h"
#include "layers/training_step_graph.h"

namespace tl::app {
namespace {

bool decays(const std::string& name) {
  // Only kernels decay: never BN gamma/beta, never biases (they do not
  // scale the function, so shrinking them is pure bias).
  return name.size() >= 7 && name.compare(name.size() - 7, 7, "/kernel") == 0;
}

std::string percent(double fraction) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.2f%%", 100 * fraction);
  return buf;
}

// A double as C99 hex ("0x1.8p+3"): exact, so a resumed epoch's running sums
// are bit for bit the interrupted ones.
std::string exact_double(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%a", v);
  return buf;
}

double parse_number(const JsonFlat& f, const char* key, const std::string& what) {
  const std::string& text = f.get(key, what);
  if (text == "null") return std::nan("");  // a non-finite value, written as null
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);  // also reads exact_double's hex
  if (text.empty() || *end != '\0') fail(what, ": \"", key, "\" is not a number: ", text);
  return v;
}

int64_t parse_count(const JsonFlat& f, const char* key, const std::string& what) {
  const double v = parse_number(f, key, what);
  if (!(v >= 0 && v < 9e15) || v != std::floor(v)) fail(what, ": \"", key, "\" is not a count: ", v);
  return static_cast<int64_t>(v);
}

PartialEpoch parse_partial_epoch(const JsonFlat& f, const std::string& what) {
  PartialEpoch p;
  p.epoch = parse_count(f, "partial_epoch", what);
  p.batches_done = parse_count(f, "batches_done", what);
  p.seen = parse_count(f, "seen", what);
  p.correct = parse_count(f, "correct", what);
  p.loss_sum = parse_number(f, "loss_sum", what);
  p.seconds = parse_number(f, "seconds", what);
  if (p.epoch < 1 || p.batches_done < 1 || p.seen < p.batches_done || p.correct > p.seen)
    fail(what, ": inconsistent partial epoch (epoch ", p.epoch, ", ", p.batches_done, " batches, ", p.seen,
         " samples, ", p.correct, " correct)");
  return p;
}

EpochMetrics parse_epoch(const JsonFlat& f, const std::string& what) {
  EpochMetrics e;
  e.epoch = parse_count(f, "epoch", what);  // not a cast: 1e300 or null would be UB
  e.train_loss = parse_number(f, "train_loss", what);
  e.train_accuracy = parse_number(f, "train_accuracy", what);
  e.val_loss = parse_number(f, "val_loss", what);
  e.val_accuracy = parse_number(f, "val_accuracy", what);
  e.learning_rate = parse_number(f, "learning_rate", what);
  e.seconds = parse_number(f, "seconds", what);
  e.images_per_second = parse_number(f, "images_per_second", what);
  return e;
}

}  // namespace

std::string training_history_json(const TrainingHistory& history) {
  std::string s = "[";
  for (const EpochMetrics& e : history.epochs) {
    JsonObject o;
    o.add("epoch", e.epoch).add("train_loss", e.train_loss).add("train_accuracy", e.train_accuracy)
        .add("val_loss", e.val_loss).add("val_accuracy", e.val_accuracy)
        .add("learning_rate", e.learning_rate).add("seconds", e.seconds)
        .add("images_per_second", e.images_per_second);
    if (s.size() > 1) s += ',';
    s += o.str();
  }
  if (const auto& p = history.partial) {
    JsonObject o;
    o.add("partial_epoch", p->epoch).add("batches_done", p->batches_done).add("seen", p->seen)
        .add("correct", p->correct).add("loss_sum", exact_double(p->loss_sum)).add("seconds", p->seconds);
    if (s.size() > 1) s += ',';
    s += o.str();
  }
  return s + "]";
}

TrainingHistory parse_training_history(const std::string& text, const std::string& what) {
  TrainingHistory history;
  size_t pos = 0;
  while ((pos = text.find('{', pos)) != std::string::npos) {
    const size_t end = text.find('}', pos);
    if (end == std::string::npos) fail(what, ": malformed metrics history");
    const JsonFlat f = parse_json_flat(text.substr(pos, end - pos + 1), what);
    if (history.partial) fail(what, ": the partial epoch must come last");
    if (f.scalars.count("partial_epoch")) history.partial = parse_partial_epoch(f, what);
    else history.epochs.push_back(parse_epoch(f, what));
    pos = end + 1;
  }
  return history;
}

std::unique_ptr<Optimizer> make_optimizer(Classifier& model, const TrainOptions& o) {
  struct Split {
    std::vector<Tensor> decay, no_decay;
  };
  auto split = [](Module& part) {
    Split s;
    for (auto& nt : part.named_parameters()) {
      if (!nt.tensor.requires_grad()) continue;  // frozen: no state, no work
      (decays(nt.name) ? s.decay : s.no_decay).push_back(nt.tensor);
    }
    return s;
  };
  const Split backbone = split(model.backbone()), head = split(model.head());
  struct GroupSpec {
    const std::vector<Tensor>* params;
    float lr, weight_decay;
  };
  const GroupSpec specs[] = {{&backbone.decay, o.backbone_lr, o.weight_decay},
                             {&backbone.no_decay, o.backbone_lr, 0.0f},
                             {&head.decay, o.lr, o.weight_decay},
                             {&head.no_decay, o.lr, 0.0f}};
  if (o.optimizer == "sgd") {
    std::vector<SgdGroup> groups;
    for (const GroupSpec& g : specs)
      groups.push_back({*g.params, SgdHyper{g.lr, o.momentum, g.weight_decay, o.nesterov}});
    return std::make_unique<Sgd>(std::move(groups));
  }
  std::vector<AdamGroup> groups;
  for (const GroupSpec& g : specs) {
    AdamHyper h;
    h.lr = g.lr;
    h.weight_decay = g.weight_decay;
    h.decoupled = o.optimizer == "adamw";
    groups.push_back({*g.params, h});
  }
  return std::make_unique<Adam>(std::move(groups));
}

CheckpointPolicy checkpoint_policy(bool hdf5_available, const TrainOptions& o) {
  if (hdf5_available) return {};
  if (!o.resume.empty())
    fail("--resume: this build of tl has no HDF5, so it can neither write nor read checkpoints; "
         "rebuild with HDF5 (e.g. apt install libhdf5-dev, then reconfigure) to resume");
  return {false,
          "Checkpoints: off: this build has no HDF5 (checkpoints are HDF5 files), so this run cannot be "
          "resumed; rebuild with HDF5 (libhdf5-dev) for checkpoints and --resume"};
}

// ---- the training loop ---------------------------------------------------------------

namespace {

Schedule schedule_of(const TrainOptions& o) {
  Schedule schedule;
  schedule.kind = o.schedule;
  schedule.warmup_epochs = o.warmup_epochs;
  schedule.total_epochs = double(o.epochs);
  schedule.step_epochs = o.step_epochs;
  schedule.step_gamma = o.step_gamma;
  return schedule;
}

// Every group's rate at `factor` of its base rate (the rate it was built with).
void set_learning_rates(Optimizer& optimizer, const std::vector<float>& base_lr, double factor) {
  for (size_t g = 0; g < base_lr.size(); ++g)
    optimizer.set_lr(g, static_cast<float>(base_lr[g] * factor));
}

// The training batches: reshuffled (and augmented, unless --no-augment)
// each epoch, from the run's seed.
LoaderOptions training_loader_options(const TrainOptions& o, int64_t n_train) {
  LoaderOptions options;
  options.batch_size = o.batch_size;
  options.seed = o.seed;
  options.augment = o.augment;
  options.shuffle = true;
  // A last batch of one sample would give the head's BNs a variance of 0
  // (and pull their running variance towards it): drop it.
  options.drop_last = n_train % o.batch_size == 1;
  return options;
}

// Where a run starts: at the beginning, or where its checkpoint left off.
struct StartPoint {
  int64_t epochs_done = 0;
  int64_t step = 0;                     // optimiser steps taken
  std::optional<PartialEpoch> partial;  // the interrupted epoch to finish first
};

// Restores from the checkpoint what it holds besides the weights (the
// optimiser's state, the random stream position, the completed epochs'
// metrics, into `epochs`) and says where the run continues.
StartPoint resume_from(Context& ctx, Optimizer& optimizer, const LoadedCheckpoint& resume,
                       bool exact_resume, int64_t batch_size, int64_t num_batches,
                       std::vector<EpochMetrics>& epochs) {
  StartPoint start;
  start.epochs_done = resume.progress.epoch;
  start.step = resume.progress.step;
  TrainingHistory history =
      parse_training_history(resume.progress.history_json, "checkpoint history");
  epochs = std::move(history.epochs);
  start.partial = history.partial;
  std::optional<PartialEpoch>& partial = start.partial;
  optimizer.load_state(ctx, resume.optimizer_state, resume.optimizer_steps);
  ctx.set_random_stream_position(resume.progress.random_stream_position);
  if (!partial) {
    std::cout << "Resuming after epoch " << start.epochs_done << " (step " << start.step << ")"
              << std::endl;
    return start;
  }
  if (partial->epoch != start.epochs_done + 1)
    fail("checkpoint history: its partial epoch is ", partial->epoch, ", but it holds ",
         start.epochs_done, " complete epochs");
  // Exact: the same batches, so continue at the next one. Inexact (other
  // batch size or data): at the first sample not yet seen, as near as the
  // new batches allow.
  if (!exact_resume) partial->batches_done = std::min(partial->seen / batch_size, num_batches);
  else if (partial->batches_done >= num_batches)
    fail("checkpoint history: ", partial->batches_done, " batches of epoch ", partial->epoch,
         " were done, but its epochs have ", num_batches, " batches now");
  std::cout << "Resuming epoch " << partial->epoch << " at batch " << partial->batches_done + 1
            << " of " << num_batches << " (step " << start.step << ")" << std::endl;
  return start;
}

// One epoch's batches: from the training set on the host, or on the GPU
// gathered and augmented on the device from its copy of the set
// (data/device_loader.h).
class EpochBatches {
 public:
  EpochBatches(Context& ctx, const ImageSet& train, const DeviceImageSet* train_on_device,
               const LoaderOptions& options, int64_t epoch) {
    if (train_on_device)
      device_ = std::make_unique<DeviceBatchIterator>(ctx, *train_on_device, options, epoch);
    else
      host_ = std::make_unique<BatchIterator>(train, options, epoch);
  }
  bool next(Batch& batch) { return device_ ? device_->next(batch) : host_->next(batch); }
  void seek(int64_t batch) {
    if (device_) device_->seek(batch);
    else host_->seek(batch);
  }

 private:
  std::unique_ptr<BatchIterator> host_;
  std::unique_ptr<DeviceBatchIterator> device_;
};

// An epoch's training loss and accuracy, from the running sums the steps
// add up on the device (StepMetrics) as last read.
double mean_loss(const StepTotals& sums) { return sums.loss_sum / double(sums.samples); }
double accuracy(const StepTotals& sums) { return double(sums.correct) / double(sums.samples); }

std::string progress_text(const StepTotals& sums) {
  char text[64];
  std::snprintf(text, sizeof text, "loss %.4f  acc %s", mean_loss(sums),
                percent(accuracy(sums)).c_str());
  return text;
}

// Epoch `epoch` (0-based)'s training figures; validate_and_report adds the
// validation set's.
EpochMetrics training_metrics(int64_t epoch, const StepTotals& sums, const Optimizer& optimizer,
                              double seconds) {
  EpochMetrics m;
  m.epoch = epoch + 1;
  m.train_loss = mean_loss(sums);
  m.train_accuracy = accuracy(sums);
  m.learning_rate = optimizer.num_groups() > 2 ? optimizer.lr(2) : optimizer.lr(0);  // the head's
  m.seconds = seconds;
  m.images_per_second = seconds > 0 ? double(sums.samples) / seconds : 0.0;
  return m;
}

[[noreturn]] void fail_on_non_finite_loss(float loss, int64_t epoch, int64_t step,
                                          const std::string& last_path) {
  std::cout << "\n";  // below the progress bar
  fail("the loss became ", loss, " at epoch ", epoch + 1, ", step ", step + 1,
       "; stopped without saving. The last good checkpoint is ",
       std::filesystem::exists(last_path) ? last_path : std::string("(none yet)"),
       ". Try a lower --lr or --backbone-lr, or a warm-up (--warmup-epochs 1).");
}

// How many steps the GPU runs between two reads of the training totals. A
// read waits for the GPU to finish every queued step, so the host has no
// work queued behind it for a moment; at ~60 steps a second, every 20th step
// still redraws the progress bar three times a second. On the CPU a read is
// a memory access: every step, as before.
int64_t steps_between_reads(const Context& ctx) { return ctx.device() == Device::CUDA ? 20 : 1; }

// Reads `metrics` into `sums`. A step whose loss was not finite stops the
// run; `first_step` is the global index of the first step added to metrics.
void read_training_totals(Context& ctx, const StepMetrics& metrics, int64_t epoch,
                          int64_t first_step, const std::string& last_path, StepTotals& sums) {
  StepTotals totals;
  try {
    totals = metrics.read(ctx);
  } catch (const Error& e) {
    // A failure a kernel recorded (a label outside the classes, found on the
    // GPU): it made its step's loss NaN, so a second read names that step.
    const StepTotals after = metrics.read(ctx);
    if (after.first_non_finite < 0) throw;
    fail(e.what(), " (epoch ", epoch + 1, ", step ", first_step + after.first_non_finite + 1, ")");
  }
  if (totals.first_non_finite >= 0)
    fail_on_non_finite_loss(totals.first_non_finite_loss, epoch,
                            first_step + totals.first_non_finite, last_path);
  sums = totals;
}

// ---- frozen-backbone feature caching (layers/feature_cache.h) ----------------

// The backbone's outputs for the training and validation images, computed
// once before the first epoch.
struct CachedFeatures {
  Tensor train, val;
};

std::string mebibytes(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", double(bytes) / double(1 << 20));
  return text;
}

// Why this run cannot cache the backbone's outputs ("" when it can).
std::string why_no_feature_cache(Classifier& model, const DataSplits& data, bool augment) {
  if (!model.backbone_is_fixed())
    return "the backbone is being trained or its BNs use batch statistics; caching needs "
           "--freeze backbone with --frozen-bn inference";
  if (augment) return "augmentation changes every image each epoch; caching needs --no-augment";
  const int64_t n = data.train.size() + (data.val.images.defined() ? data.val.size() : 0);
  const int64_t bytes = backbone_feature_bytes(model, n);
  const int64_t available = available_host_memory();
  if (available >= 0 && bytes > available / 2)
    return "the backbone outputs of " + std::to_string(n) + " images take " + mebibytes(bytes) +
           ", more than half the available RAM (" + mebibytes(available) + ")";
  return "";
}

// --feature-cache auto|on|off: the cached features, or nothing (saying why
// when the backbone is fixed but the cache still cannot be used).
std::optional<CachedFeatures> cache_features(Context& ctx, Classifier& model, const DataSplits& data,
                                             const TrainOptions& o, bool augment) {
  if (o.feature_cache == "off") return std::nullopt;
  const std::string why_not = why_no_feature_cache(model, data, augment);
  if (!why_not.empty()) {
    if (o.feature_cache == "on") fail("--feature-cache on: ", why_not);
    if (model.backbone_is_fixed()) std::cout << "Feature cache: off (" << why_not << ")\n";
    return std::nullopt;
  }
  const auto start = std::chrono::steady_clock::now();
  CachedFeatures cache;
  cache.train = compute_backbone_features(ctx, model, data.train.images, o.batch_size);
  if (data.val.images.defined() && data.val.size() > 0)
    cache.val = compute_backbone_features(ctx, model, data.val.images, o.batch_size);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int64_t bytes = cache.train.numel() * 4 + (cache.val.defined() ? cache.val.numel() * 4 : 0);
  std::printf("Feature cache: the frozen backbone's outputs for %lld training and %lld validation "
              "images, computed once in %.1f s (%s); each epoch trains the head alone\n",
              static_cast<long long>(data.train.size()),
              static_cast<long long>(cache.val.defined() ? data.val.size() : 0), seconds,
              mebibytes(bytes).c_str());
  std::fflush(stdout);
  return cache;
}

// Completes m with the validation set's loss and accuracy, when there is
// one, and prints the epoch's line. Flushed: a log redirected to a file
// must hold every finished epoch, however the process ends afterwards.
void validate_and_report(Context& ctx, Classifier& model, const ImageSet& val,
                         const std::optional<CachedFeatures>& cache, const TrainOptions& o,
                         EpochMetrics& m) {
  std::string line = "epoch " + std::to_string(m.epoch) + ": train loss " +
                     std::to_string(m.train_loss) + ", accuracy " + percent(m.train_accuracy);
  if (val.images.defined() && val.images.size(0) > 0) {
    const Evaluation v = cache ? evaluate_features(ctx, model, cache->val, val.labels, o.batch_size)
                               : evaluate(ctx, model, val, o.batch_size, o.image_size);
    m.val_loss = v.loss;
    m.val_accuracy = v.accuracy;
    line += "; validation loss " + std::to_string(v.loss) + ", accuracy " + percent(v.accuracy);
  }
  std::cout << line << std::endl;
}

}  // namespace

TrainResult train(Context& ctx, Classifier& model, Optimizer& optimizer, const DataSplits& data,
                  const TrainOptions& o, const TrainSetup& setup) {
  // The training step resizes the images to the model's input size, the
  // validation to --image-size: they must be one size.
  TL_CHECK(model.config().input_size == o.image_size, "train: the model takes ",
           model.config().input_size, "x", model.config().input_size, " images, --image-size is ",
           o.image_size);
  TrainResult result;
  RunSummary& run = result.summary;
  run.config_json = setup.config_json;
  const std::string last_path = o.checkpoint_dir + "/last.h5";
  const RaiseHook raise_hook = raise_hook_from_environment();

  const Schedule schedule = schedule_of(o);
  std::vector<float> base_lr;
  for (size_t g = 0; g < optimizer.num_groups(); ++g) base_lr.push_back(optimizer.lr(g));

  const int64_t n_train = data.train.images.size(0);
  const LoaderOptions loader_options = training_loader_options(o, n_train);
  const int64_t num_batches = DataLoader(data.train, loader_options).num_batches();
  result.batches_per_epoch = num_batches;

  StartPoint start;
  if (setup.resume)
    start = resume_from(ctx, optimizer, *setup.resume, setup.exact_resume, o.batch_size, num_batches,
                        run.epochs);
  int64_t step = start.step;
  std::optional<PartialEpoch> partial = start.partial;
  if (loader_options.drop_last && start.epochs_done == 0 && !partial)
    std::cout << "Dropping the last training batch of each epoch: it would hold one image\n";

  // Saves where the run stands: after an epoch (partial empty) or within one.
  auto save = [&](int64_t epochs_done, const std::optional<PartialEpoch>& in_progress) {
    if (!setup.checkpoints) return;
    TrainingProgress progress;
    progress.epoch = epochs_done;
    progress.step = step;
    progress.seed = o.seed;
    progress.random_stream_position = ctx.random_stream_position();
    progress.config_json = setup.config_json;
    progress.history_json = training_history_json({run.epochs, in_progress});
    save_checkpoint(last_path, model, &optimizer, progress);
    result.last_checkpoint = last_path;
  };
  auto stop_here = [&](int signal, int64_t epochs_done, int64_t batch) {
    result.interrupted_by = signal;
    result.epoch = epochs_done;
    result.batch = batch;
    result.step = step;
    return result;
  };

  int64_t epochs_this_run = 0;
  const std::optional<CachedFeatures> cache =
      start.epochs_done < o.epochs ? cache_features(ctx, model, data, o, loader_options.augment)
                                   : std::nullopt;
  // On the GPU the training set lives on the device (unless the head trains
  // on cached features: their batches are gathered on the host).
  std::unique_ptr<DeviceImageSet> device_train;
  if (ctx.device() == Device::CUDA && !cache)
    device_train = std::make_unique<DeviceImageSet>(DeviceImageSet::upload(ctx, data.train));

  // On the GPU the step runs as one CUDA graph, captured at the second step
  // (layers/training_step_graph.h); the metrics live across epochs, since
  // the graph adds to the totals at the address it was captured with.
  TrainingStepGraph step_graph(o.cuda_graph == "on");
  StepMetrics metrics(ctx);
  auto note_graph = [&] {
    result.graph_captures = step_graph.captures();
    result.graph_replays = step_graph.replays();
    result.eager_steps = step_graph.eager_steps();
    result.graph_off_reason = step_graph.off_reason();
  };

  for (int64_t epoch = start.epochs_done; epoch < o.epochs; ++epoch) {
    EpochBatches batches(ctx, data.train, device_train.get(), loader_options, epoch);
    // A resumed epoch starts from the interrupted run's sums, at its next batch.
    StepTotals sums;
    double earlier_seconds = 0;
    if (partial && partial->epoch == epoch + 1) {
      batches.seek(partial->batches_done);
      sums.samples = partial->seen;
      sums.correct = partial->correct;
      sums.loss_sum = partial->loss_sum;
      earlier_seconds = partial->seconds;
      partial.reset();
    }
    ProgressBar bar("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs),
                    loader_options.drop_last ? n_train - 1 : n_train, sums.samples);
    // The steps add their loss and hits up on the device; the host reads the
    // totals every few steps and before anything is saved.
    metrics.reset(ctx, sums);
    const int64_t first_step = step;
    auto read_totals = [&] {
      read_training_totals(ctx, metrics, epoch, first_step, last_path, sums);
      bar.update(sums.samples, progress_text(sums));
    };
    for (Batch batch; batches.next(batch);) {
      const double position = double(epoch) + double(batch.index) / double(num_batches);
      set_learning_rates(optimizer, base_lr, schedule.factor(position));
      if (cache)
        queue_head_training_step(ctx, model, optimizer, gather_rows(cache->train, batch.indices),
                                 batch.labels, metrics);
      else
        step_graph.queue(ctx, model, optimizer, batch.images, batch.labels, metrics);
      ++step;
      if ((step - first_step) % steps_between_reads(ctx) == 0) read_totals();

      if (step == raise_hook.step)
        for (int sig : raise_hook.signals) std::raise(sig);
      // Interrupted: save this step (the epoch's last batch instead ends the
      // epoch as usual, below) and stop.
      const int sig = InterruptHandler::requested();
      if (sig != 0 && batch.index + 1 < num_batches) {
        read_totals();
        bar.finish();
        save(epoch, PartialEpoch{epoch + 1, batch.index + 1, sums.samples, sums.correct,
                                 sums.loss_sum, earlier_seconds + bar.seconds()});
        note_graph();
        return stop_here(sig, epoch, batch.index + 1);
      }
    }
    read_totals();
    EpochMetrics m = training_metrics(epoch, sums, optimizer, earlier_seconds + bar.seconds());
    bar.finish();
    validate_and_report(ctx, model, data.val, cache, o, m);
    run.epochs.push_back(m);

    save(epoch + 1, std::nullopt);
    write_run_outputs(o.output_dir, run);

    // Interrupted during the epoch's last batch, its validation or its
    // checkpoint: stop now that the epoch is saved (after the last epoch
    // too: --resume then runs only the test evaluation).
    if (const int sig = InterruptHandler::requested(); sig != 0) {
      note_graph();
      return stop_here(sig, epoch + 1, 0);
    }
    if (o.stop_after_epochs > 0 && ++epochs_this_run >= o.stop_after_epochs &&
        epoch + 1 < o.epochs) {
      result.stopped_early = true;
      std::cout << "Stopping after " << epochs_this_run
                << " epoch(s) as asked; continue with --resume" << std::endl;
      note_graph();
      return result;
    }
  }
  result.epoch = o.epochs;
  result.step = step;
  note_graph();
  return result;
}

}  // namespace tl::app
