#include "apps/trainer.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "apps/evaluation.h"
#include "apps/json.h"
#include "apps/progress.h"
#include "apps/schedule.h"
#include "data/device_loader.h"
#include "data/loader.h"
#include "engine/autograd.h"
#include "engine/ops.h"

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

std::string epoch_history_json(const std::vector<EpochMetrics>& epochs) {
  std::string s = "[";
  for (size_t i = 0; i < epochs.size(); ++i) {
    const EpochMetrics& e = epochs[i];
    JsonObject o;
    o.add("epoch", e.epoch).add("train_loss", e.train_loss).add("train_accuracy", e.train_accuracy)
        .add("val_loss", e.val_loss).add("val_accuracy", e.val_accuracy)
        .add("learning_rate", e.learning_rate).add("seconds", e.seconds)
        .add("images_per_second", e.images_per_second);
    if (i) s += ',';
    s += o.str();
  }
  return s + "]";
}

// Inverse of epoch_history_json: the objects of a JSON array, each flat.
std::vector<EpochMetrics> parse_history(const std::string& text, const std::string& what) {
  std::vector<EpochMetrics> out;
  size_t pos = 0;
  while ((pos = text.find('{', pos)) != std::string::npos) {
    const size_t end = text.find('}', pos);
    if (end == std::string::npos) fail(what, ": malformed metrics history");
    const JsonFlat f = parse_json_flat(text.substr(pos, end - pos + 1), what);
    auto num = [&](const char* key) {
      const std::string& text = f.get(key, what);
      if (text == "null") return std::nan("");  // a non-finite value, written as null
      try {
        return std::stod(text);
      } catch (const std::exception&) {
        fail(what, ": \"", key, "\" is not a number: ", text);
      }
    };
    EpochMetrics e;
    e.epoch = static_cast<int64_t>(num("epoch"));
    e.train_loss = num("train_loss");
    e.train_accuracy = num("train_accuracy");
    e.val_loss = num("val_loss");
    e.val_accuracy = num("val_accuracy");
    e.learning_rate = num("learning_rate");
    e.seconds = num("seconds");
    e.images_per_second = num("images_per_second");
    out.push_back(e);
    pos = end + 1;
  }
  return out;
}

}  // namespace

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

int64_t estimate_training_bytes(const Classifier& model, int64_t batch, int64_t image_size,
                                int64_t optimizer_states_per_param) {
  int64_t activations = batch * image_size * image_size * 3;  // the preprocessed input
  for (const SummaryRow& row : model.summary({1, image_size, image_size, 3}))
    activations += batch * shape_numel(row.output);
  const int64_t weights = model.count_trainable() + model.count_frozen() + model.count_buffers();
  // Each layer output is kept for the backward pass and its gradient lives
  // briefly beside it: about twice the forward activations.
  return 4 * (2 * activations + weights + model.count_trainable() * (1 + optimizer_states_per_param));
}

TrainResult train(Context& ctx, Classifier& model, Optimizer& optimizer, const DataSplits& data,
                  const TrainOptions& o, const std::string& config_json,
                  const LoadedCheckpoint* resume) {
  namespace fs = std::filesystem;
  TrainResult result;
  RunSummary& run = result.summary;
  run.config_json = config_json;
  const std::string last_path = o.checkpoint_dir + "/last.h5";

  Schedule schedule;
  schedule.kind = o.schedule;
  schedule.warmup_epochs = o.warmup_epochs;
  schedule.total_epochs = double(o.epochs);
  schedule.step_epochs = o.step_epochs;
  schedule.step_gamma = o.step_gamma;
  std::vector<float> base_lr;
  for (size_t g = 0; g < optimizer.num_groups(); ++g) base_lr.push_back(optimizer.lr(g));

  int64_t first_epoch = 0, step = 0;
  if (resume) {
    first_epoch = resume->progress.epoch;
    step = resume->progress.step;
    run.epochs = parse_history(resume->progress.history_json, "checkpoint history");
    optimizer.load_state(ctx, resume->optimizer_state, resume->optimizer_steps);
    ctx.set_random_stream_position(resume->progress.random_stream_position);
    std::cout << "Resuming after epoch " << first_epoch << " (step " << step << ")\n";
  }

  LoaderOptions loader_options;
  loader_options.batch_size = o.batch_size;
  loader_options.seed = o.seed;
  loader_options.augment = o.augment;
  loader_options.shuffle = true;
  const int64_t n_train = data.train.images.size(0);
  // A last batch of one sample would give the head's BNs a variance of 0
  // (and pull their running variance towards it): drop it.
  loader_options.drop_last = n_train % o.batch_size == 1;
  if (loader_options.drop_last && first_epoch == 0)
    std::cout << "Dropping the last training batch of each epoch: it would hold one image\n";
  int64_t epochs_this_run = 0;
  // On the GPU the training set lives on the device and batches are
  // gathered and augmented there (data/device_loader.h).
  std::unique_ptr<DeviceImageSet> device_train;
  if (ctx.device() == Device::CUDA)
    device_train = std::make_unique<DeviceImageSet>(DeviceImageSet::upload(ctx, data.train));

  for (int64_t epoch = first_epoch; epoch < o.epochs; ++epoch) {
    model.train();
    std::unique_ptr<BatchIterator> host_batches;
    std::unique_ptr<DeviceBatchIterator> device_batches;
    if (device_train)
      device_batches = std::make_unique<DeviceBatchIterator>(ctx, *device_train, loader_options, epoch);
    else
      host_batches = std::make_unique<BatchIterator>(data.train, loader_options, epoch);
    const int64_t num_batches = device_batches ? device_batches->num_batches() : host_batches->num_batches();
    auto next_batch = [&](Batch& b) { return device_batches ? device_batches->next(b) : host_batches->next(b); };
    ProgressBar bar("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs),
                    loader_options.drop_last ? n_train - 1 : n_train);
    double loss_sum = 0;
    int64_t correct = 0, seen = 0;
    for (Batch batch; next_batch(batch);) {
      const double position = double(epoch) + double(batch.index) / double(num_batches);
      const double factor = schedule.factor(position);
      for (size_t g = 0; g < base_lr.size(); ++g) optimizer.set_lr(g, static_cast<float>(base_lr[g] * factor));

      optimizer.zero_grad();
      const Tensor x = ops::preprocess_caffe(ctx, ctx.to_device(batch.images), o.image_size, o.image_size);
      const Tensor logits = model.forward(ctx, x);
      const Tensor loss = ops::softmax_cross_entropy(ctx, logits, ctx.to_device(batch.labels));
      const float loss_value = loss.to_vector()[0];
      if (!std::isfinite(loss_value)) {
        std::cout << "\n";
        fail("the loss became ", loss_value, " at epoch ", epoch + 1, ", step ", step + 1,
             "; stopped without saving. The last good checkpoint is ",
             fs::exists(last_path) ? last_path : std::string("(none yet)"),
             ". Try a lower --lr or --backbone-lr, or a warm-up (--warmup-epochs 1).");
      }
      backward(ctx, loss);
      optimizer.step(ctx);
      ++step;

      const int64_t b = batch.labels.numel();
      loss_sum += double(loss_value) * double(b);
      const std::vector<int32_t> predicted = argmax_rows(logits);
      const Tensor labels = ctx.to_host(batch.labels);  // for the running accuracy only
      for (int64_t i = 0; i < b; ++i) correct += predicted[static_cast<size_t>(i)] == labels.data<int32_t>()[i];
      seen += b;
      char extra[64];
      std::snprintf(extra, sizeof extra, "loss %.4f  acc %s", loss_sum / double(seen),
                    percent(double(correct) / double(seen)).c_str());
      bar.update(seen, extra);
    }
    EpochMetrics m;
    m.epoch = epoch + 1;
    m.train_loss = loss_sum / double(seen);
    m.train_accuracy = double(correct) / double(seen);
    m.learning_rate = optimizer.num_groups() > 2 ? optimizer.lr(2) : optimizer.lr(0);
    m.seconds = bar.seconds();
    m.images_per_second = bar.items_per_second();
    bar.finish();
    std::string line = "epoch " + std::to_string(m.epoch) + ": train loss " +
                       std::to_string(m.train_loss) + ", accuracy " + percent(m.train_accuracy);
    if (data.val.images.defined() && data.val.images.size(0) > 0) {
      const Evaluation v = evaluate(ctx, model, data.val, o.batch_size, o.image_size);
      m.val_loss = v.loss;
      m.val_accuracy = v.accuracy;
      line += "; validation loss " + std::to_string(v.loss) + ", accuracy " + percent(v.accuracy);
    }
    std::cout << line << "\n";
    run.epochs.push_back(m);

    TrainingProgress progress;
    progress.epoch = epoch + 1;
    progress.step = step;
    progress.seed = o.seed;
    progress.random_stream_position = ctx.random_stream_position();
    progress.config_json = config_json;
    progress.history_json = epoch_history_json(run.epochs);
    save_checkpoint(last_path, model, &optimizer, progress);
    result.last_checkpoint = last_path;
    write_run_outputs(o.output_dir, run);

    if (o.stop_after_epochs > 0 && ++epochs_this_run >= o.stop_after_epochs && epoch + 1 < o.epochs) {
      result.stopped_early = true;
      std::cout << "Stopping after " << epochs_this_run << " epoch(s) as asked; continue with --resume\n";
      return result;
    }
  }
  return result;
}

}  // namespace tl::app
