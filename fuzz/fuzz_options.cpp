// Fuzzes train_cifar's flag parser (apps/options.h parse_train_options) and
// the "how to resume" line it builds (resume_command_line). The input is
// split on NUL and newline bytes into argv[1..]; argv[0] is "train_cifar".
//
// Properties for a command line that parses:
//  - the values are in the ranges the parser promises (the rest of the
//    program relies on them: image size 32..kMaxImageSize, batch >= 2, ...);
//  - resume_command_line's output, split back into words as a POSIX shell
//    does, parses to the same options, with --resume added: the line we tell
//    the user to paste continues the same run.
#include <algorithm>
#include <string>
#include <vector>

#include "apps/options.h"
#include "fuzz/fuzz_util.h"

namespace {

using namespace tl::app;

std::string describe(const TrainOptions& o) {
  std::string s;
  auto add = [&](const auto& v) {
    if constexpr (std::is_convertible_v<decltype(v), std::string>) s += std::string(v);
    else s += std::to_string(v);
    s += '|';
  };
  add(o.dataset), add(o.data_dir), add(o.subset), add(o.test_subset), add(o.val_split), add(o.augment);
  add(o.synthetic_size), add(o.image_size), add(o.pool), add(o.weights), add(o.require_weights);
  add(o.freeze), add(o.frozen_bn), add(o.dropout), add(o.bn_momentum), add(o.epochs), add(o.batch_size);
  add(o.optimizer), add(o.lr), add(o.backbone_lr), add(o.momentum), add(o.nesterov), add(o.weight_decay);
  add(o.schedule), add(o.warmup_epochs), add(o.step_epochs), add(o.step_gamma), add(o.device);
  add(o.precision), add(o.seed), add(o.output_dir), add(o.checkpoint_dir), add(o.resume_inexact);
  add(o.stop_after_epochs), add(o.quick), add(o.help);
  for (const std::string& f : o.quick_defaults) s += f + ",";
  return s;
}

// POSIX shell word splitting for what shell_quote produces: plain words,
// '...' quoting, and the '\'' idiom (backslash escapes outside quotes).
std::vector<std::string> shell_split(const std::string& line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '\'') {
      const size_t end = line.find('\'', i + 1);
      TL_FUZZ_REQUIRE(end != std::string::npos, "unterminated quote in: ", line);
      word += line.substr(i + 1, end - i - 1);
      i = end;
      in_word = true;
    } else if (c == '\\' && i + 1 < line.size()) {
      word += line[++i];
      in_word = true;
    } else if (c == ' ') {
      if (in_word) words.push_back(word);
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(word);
  return words;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> args = {"train_cifar"};
  std::string arg;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0 || data[i] == '\n') {
      args.push_back(arg);
      arg.clear();
    } else {
      arg += static_cast<char>(data[i]);
    }
  }
  if (size > 0) args.push_back(arg);  // the last argument (possibly empty)
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int argc = static_cast<int>(args.size());

  TrainOptions o;
  if (!tl::fuzz::expect_tl_error_only("parse_train_options", [&] { o = parse_train_options(argc, argv.data()); }))
    return 0;

  TL_FUZZ_REQUIRE(o.image_size >= 32 && o.image_size <= kMaxImageSize, o.image_size);
  TL_FUZZ_REQUIRE(o.batch_size >= 2 && o.epochs >= 1 && o.subset >= 0 && o.test_subset >= 0 && o.step_epochs >= 1);
  TL_FUZZ_REQUIRE(o.val_split >= 0 && o.val_split < 1 && o.dropout >= 0 && o.dropout < 1);
  TL_FUZZ_REQUIRE(o.bn_momentum >= 0 && o.bn_momentum < 1 && o.synthetic_size >= 20);
  TL_FUZZ_REQUIRE(o.lr >= 0 && o.backbone_lr >= 0 && o.momentum >= 0 && o.weight_decay >= 0 &&
                  o.warmup_epochs >= 0 && o.step_gamma >= 0);
  TL_FUZZ_REQUIRE(!o.checkpoint_dir.empty());
  for (const std::string& flag : o.quick_defaults) (void)flag_origin(o, flag);

  // The resume line: split as a shell would, parsed again, the same run.
  const std::string line = resume_command_line(argc, argv.data());
  std::vector<std::string> words = shell_split(line);
  TL_FUZZ_REQUIRE(!words.empty() && words[0] == "train_cifar", line);
  std::vector<char*> again;
  for (std::string& w : words) again.push_back(w.data());
  again.push_back(nullptr);
  TrainOptions resumed;
  TL_FUZZ_REQUIRE(tl::fuzz::expect_tl_error_only(
                      "parse_train_options (resume line)",
                      [&] { resumed = parse_train_options(static_cast<int>(words.size()), again.data()); }),
                  "the resume line does not parse: ", line);
  TL_FUZZ_REQUIRE(resumed.resume == "auto", "the resume line resumes '", resumed.resume, "': ", line);
  TL_FUZZ_REQUIRE(describe(resumed) == describe(o), "the resume line is another run: ", line, "\n  ",
                  describe(o), "\n  ", describe(resumed));
  return 0;
}
