#include "apps/metrics.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "apps/json.h"
#include "runtime/check.h"
#include "weights/atomic_write.h"

namespace tl::app {

void write_file_atomically(const std::string& path, const std::string& text) {
  // A temp file beside it, fsync, rename; any failure is one tl::Error that
  // names the file and the reason, removes the temp file and leaves the
  // previous file as it was (weights/atomic_write.h).
  write_bytes_atomically(path, text.data(), text.size());
}

namespace {

std::string csv(const RunSummary& run) {
  std::ostringstream os;
  os << "epoch,train_loss,train_accuracy,val_loss,val_accuracy,learning_rate,seconds,images_per_second\n";
  for (const EpochMetrics& e : run.epochs) {
    os << e.epoch << "," << e.train_loss << "," << e.train_accuracy << ",";
    if (e.val_loss >= 0) os << e.val_loss << "," << e.val_accuracy;
    else os << ",";
    os << "," << e.learning_rate << "," << e.seconds << "," << e.images_per_second << "\n";
  }
  return os.str();
}

std::string json(const RunSummary& run) {
  std::string epochs = "[";
  for (size_t i = 0; i < run.epochs.size(); ++i) {
    const EpochMetrics& e = run.epochs[i];
    JsonObject o;
    o.add("epoch", e.epoch).add("train_loss", e.train_loss).add("train_accuracy", e.train_accuracy);
    if (e.val_loss >= 0) o.add("val_loss", e.val_loss).add("val_accuracy", e.val_accuracy);
    o.add("learning_rate", e.learning_rate).add("seconds", e.seconds).add("images_per_second", e.images_per_second);
    epochs += (i ? ",\n  " : "\n  ") + o.str();
  }
  epochs += "\n]";
  JsonObject root;
  root.add_raw("config", run.config_json.empty() ? "{}" : run.config_json).add_raw("epochs", epochs);
  if (run.test_loss >= 0) root.add("test_loss", run.test_loss).add("test_accuracy", run.test_accuracy);
  return root.str() + "\n";
}

// One panel: a series per (values, colour, label), x = epoch.
void panel(std::ostringstream& os, double x0, const std::string& title,
           const std::vector<EpochMetrics>& epochs, bool loss) {
  const double w = 420, h = 300, left = 55, top = 35, pw = w - left - 20, ph = h - top - 45;
  std::vector<std::pair<std::vector<double>, std::pair<const char*, const char*>>> series;
  std::vector<double> train, val;
  for (const auto& e : epochs) {
    train.push_back(loss ? e.train_loss : e.train_accuracy);
    if (e.val_loss >= 0) val.push_back(loss ? e.val_loss : e.val_accuracy);
  }
  series.push_back({train, {"#1f77b4", "train"}});
  if (!val.empty()) series.push_back({val, {"#ff7f0e", "validation"}});
  double lo = loss ? 0.0 : 0.0, hi = loss ? 0.0 : 1.0;
  for (const auto& s : series)
    for (double v : s.first) hi = std::max(hi, v);
  if (hi <= lo) hi = lo + 1;
  const int64_t n = static_cast<int64_t>(epochs.size());
  auto px = [&](int64_t i) { return x0 + left + (n <= 1 ? pw / 2 : pw * i / double(n - 1)); };
  auto py = [&](double v) { return top + ph * (1 - (v - lo) / (hi - lo)); };
  os << "<text x='" << x0 + w / 2 << "' y='20' text-anchor='middle' font-size='15'>" << title << "</text>\n";
  os << "<rect x='" << x0 + left << "' y='" << top << "' width='" << pw << "' height='" << ph
     << "' fill='none' stroke='#444'/>\n";
  for (int t = 0; t <= 4; ++t) {
    const double v = lo + (hi - lo) * t / 4;
    char label[32];
    std::snprintf(label, sizeof label, loss ? "%.2f" : "%.0f%%", loss ? v : 100 * v);
    os << "<text x='" << x0 + left - 6 << "' y='" << py(v) + 4 << "' text-anchor='end' font-size='11'>"
       << label << "</text>\n";
    os << "<line x1='" << x0 + left << "' y1='" << py(v) << "' x2='" << x0 + left + pw << "' y2='" << py(v)
       << "' stroke='#ddd'/>\n";
  }
  for (int64_t i = 0; i < n; ++i)
    os << "<text x='" << px(i) << "' y='" << top + ph + 16 << "' text-anchor='middle' font-size='11'>"
       << epochs[i].epoch << "</text>\n";
  os << "<text x='" << x0 + left + pw / 2 << "' y='" << h - 8 << "' text-anchor='middle' font-size='12'>epoch</text>\n";
  int legend = 0;
  for (const auto& [values, style] : series) {
    os << "<polyline fill='none' stroke-width='2' stroke='" << style.first << "' points='";
    for (size_t i = 0; i < values.size(); ++i) os << px(static_cast<int64_t>(i)) << "," << py(values[i]) << " ";
    os << "'/>\n";
    for (size_t i = 0; i < values.size(); ++i)
      os << "<circle r='3' fill='" << style.first << "' cx='" << px(static_cast<int64_t>(i)) << "' cy='"
         << py(values[i]) << "'/>\n";
    os << "<text x='" << x0 + left + pw - 10 << "' y='" << top + 16 + 16 * legend++
       << "' text-anchor='end' font-size='12' fill='"
       << style.first << "'>" << style.second << "</text>\n";
  }
}

}  // namespace

std::string curves_svg(const std::vector<EpochMetrics>& epochs) {
  std::ostringstream os;
  os << "<svg xmlns='http://www.w3.org/2000/svg' width='860' height='300' font-family='sans-serif'>\n"
     << "<rect width='860' height='300' fill='white'/>\n";
  panel(os, 0, "Loss", epochs, true);
  panel(os, 430, "Accuracy", epochs, false);
  os << "</svg>\n";
  return os.str();
}

void write_run_outputs(const std::string& dir, const RunSummary& run) {
  write_file_atomically(dir + "/metrics.csv", csv(run));
  write_file_atomically(dir + "/metrics.json", json(run));
  write_file_atomically(dir + "/curves.svg", curves_svg(run.epochs));
}

}  // namespace tl::app
