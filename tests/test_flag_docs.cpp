// The flag tables (apps/flag_table.h) and what is made of them: the parser's
// errors, each app's --help (exactly the flags of its table, as whole
// tokens) and docs/flags.md (what the apps print, regenerated here).
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "apps/flag_table.h"
#include "apps/options.h"
#include "runtime/check.h"

namespace tl::test {
namespace {
namespace fs = std::filesystem;
using app::FlagTable;

// ---- the mechanism, on a small table of every kind of row -----------------------

struct Toy {
  int64_t count = 3;
  double rate = 0.5;
  float scale = 1.0f;
  std::string mode = "fast";
  std::string dir = "out";
  std::string resume;
  bool verbose = false;
  bool color = true;
  std::vector<std::string> files;
  bool help = false, help_markdown = false;
};

FlagTable toy_flags(Toy& o, bool with_files = true) {
  FlagTable t("toy", "a table for the tests");
  t.section("Numbers");
  t.add(app::int_flag("--count", o.count, {.min = 1, .max = 10}, "how many"));
  t.add(app::number_flag("--rate", o.rate, {.below = 1}, "a fraction"));
  t.add(app::number_flag("--scale", o.scale, {}, "a factor"));
  t.section("Words");
  t.add(app::choice_flag("--mode", o.mode, {"fast", "slow"}, "how"));
  t.add(app::text_flag("--dir", o.dir, "DIR", "where", [](const std::string& v) {
    return v.back() == '/' ? "expected no trailing /" : "";
  }));
  t.add(app::optional_value_flag("--resume", o.resume, "PATH", "auto", "from where"));
  t.add(app::switch_flag("--verbose", o.verbose, "say more"));
  t.add(app::switch_flag("--no-color", o.color, "plain output", false));
  if (with_files) t.add(app::positional_args("FILE", o.files, "inputs"));
  t.add_help_flags(o.help, o.help_markdown);
  return t;
}

Toy parse_toy(std::vector<std::string> args, bool with_files = true) {
  args.insert(args.begin(), "toy");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  Toy o;
  toy_flags(o, with_files).parse(static_cast<int>(argv.size()), argv.data());
  return o;
}

// The tl::Error message of parsing `args` ("" if it parses).
std::string toy_error(std::vector<std::string> args, bool with_files = true) {
  try {
    parse_toy(std::move(args), with_files);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void expect_contains(const std::string& text, const std::vector<std::string>& parts) {
  for (const std::string& p : parts)
    EXPECT_NE(text.find(p), std::string::npos) << "'" << p << "' not in: " << text;
}

TEST(FlagTable, ParsesEveryKindOfRow) {
  const Toy o =
      parse_toy({"a.png", "--count", "7", "--rate=0.25", "--scale", "2e3", "--mode", "slow",
                 "--dir", "x y", "--verbose", "--no-color", "-h", "b.png", "--resume"});
  EXPECT_EQ(o.count, 7);
  EXPECT_EQ(o.rate, 0.25);
  EXPECT_EQ(o.scale, 2000.0f);
  EXPECT_EQ(o.mode, "slow");
  EXPECT_EQ(o.dir, "x y");
  EXPECT_TRUE(o.verbose);
  EXPECT_FALSE(o.color);
  EXPECT_TRUE(o.help);
  EXPECT_EQ(o.resume, "auto");  // given bare
  EXPECT_EQ(o.files, (std::vector<std::string>{"a.png", "b.png"}));
  // An optional value: the next word unless it is a flag; or attached with '='.
  EXPECT_EQ(parse_toy({"--resume", "r.h5"}).resume, "r.h5");
  EXPECT_EQ(parse_toy({"--resume", "--verbose"}).resume, "auto");
  EXPECT_EQ(parse_toy({"--resume=r.h5", "f"}).resume, "r.h5");
  // A value flag takes the next word whatever it looks like; the last one wins.
  EXPECT_EQ(parse_toy({"--dir", "--verbose"}).dir, "--verbose");
  EXPECT_EQ(parse_toy({"--count", "2", "--count", "3"}).count, 3);
  EXPECT_EQ(parse_toy({}).count, 3);  // defaults stay
}

TEST(FlagTable, ErrorsNameTheFlagAndWhatItExpects) {
  expect_contains(toy_error({"--countz", "3"}), {"unknown flag '--countz'", "--help"});
  expect_contains(toy_error({"--countz=3"}), {"unknown flag '--countz'"});
  expect_contains(toy_error({"-x"}), {"unknown flag '-x'"});
  expect_contains(toy_error({"--count"}), {"--count: missing value"});
  expect_contains(toy_error({"--count", "many"}), {"--count", "an integer from 1 to 10", "'many'"});
  expect_contains(toy_error({"--count", "11"}), {"--count", "from 1 to 10", "'11'"});
  expect_contains(toy_error({"--count", "3.5"}), {"--count", "'3.5'"});
  expect_contains(toy_error({"--rate", "1"}), {"--rate", "in [0, 1)", "'1'"});
  expect_contains(toy_error({"--rate", "nan"}), {"--rate", "finite"});
  expect_contains(toy_error({"--scale", "-1"}), {"--scale", ">= 0"});
  expect_contains(toy_error({"--scale", "1e39"}), {"--scale", "'1e39'"});  // inf as a float
  expect_contains(toy_error({"--mode", "medium"}), {"--mode", "one of fast, slow", "'medium'"});
  expect_contains(toy_error({"--dir", ""}), {"--dir", "DIR", "empty"});
  expect_contains(toy_error({"--dir", "a/"}), {"--dir", "expected no trailing /", "'a/'"});
  expect_contains(toy_error({"--resume="}), {"--resume", "empty"});
  expect_contains(toy_error({"--verbose=yes"}), {"--verbose takes no value"});
  expect_contains(toy_error({"stray"}, /*with_files=*/false),
                  {"unexpected argument 'stray'", "--help"});
}

TEST(FlagTable, RefusesASpellingTwice) {
  Toy o;
  FlagTable t = toy_flags(o);
  EXPECT_THROW(t.add(app::switch_flag("--verbose", o.verbose, "again")), Error);
  EXPECT_THROW(t.add(app::switch_flag("--quiet", o.verbose, "alias clash").also_spelled("-h")),
               Error);
}

TEST(FlagTable, HelpAndMarkdownShowEveryRowWithItsDefault) {
  Toy o;
  const FlagTable t = toy_flags(o);
  expect_contains(t.help(),
                  {"Usage: toy [FLAGS]", "Numbers\n", "  --count N", "how many (default: 3)",
                   "--mode fast|slow", "--resume [PATH]", "FILE...", "--help, -h"});
  // In a Markdown table '|' must be escaped even in code, or it ends the cell.
  expect_contains(t.markdown(), {"## toy", "| **Numbers** | | |", "| `--count N` | 3 | how many |",
                                 "| `--mode fast\\|slow` | fast | how |",
                                 "| `--help`, `-h` |  | print this help |"});
}

// ---- the apps: --help and docs/flags.md --------------------------------------

const fs::path kSourceDir = fs::path(TL_TEST_DATA_DIR).parent_path().parent_path();

struct Output {
  int exit_code = -1;
  std::string text;  // stdout; stderr goes to the test's log
};

Output run(const std::string& command) {
  Output r;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf;
  for (size_t n; (n = fread(buf.data(), 1, buf.size(), pipe)) > 0;) r.text.append(buf.data(), n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// `--help` or `--help-markdown` of a built app; fails the test when it cannot.
std::string app_output(const std::string& app, const std::string& flag) {
  const std::string binary = std::string(TL_BUILD_DIR) + "/apps/" + app;
  if (!fs::exists(binary)) {
    ADD_FAILURE() << binary << " is not built (build the '" << app << "' target)";
    return "";
  }
  const Output r = run(binary + " " + flag);
  EXPECT_EQ(r.exit_code, 0) << app << " " << flag << ":\n" << r.text;
  return r.text;
}

bool flag_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; }

// Whether a word can start at text[i]: not inside one ("pad-4", "Ctrl-C",
// "tf_keras"), nor right after a closing quote ("'caffe'-preprocessed").
bool word_starts(const std::string& text, size_t i) {
  auto in_word = [&](size_t j) { return flag_char(text[j]) || text[j] == '_'; };
  if (i == 0) return true;
  if (text[i - 1] == '\'' || text[i - 1] == '"') return i == 1 || !in_word(i - 2);
  return !in_word(i - 1);
}

// Every word of `text` that looks like a flag: "-" or "--", a letter, then
// letters, digits and dashes. Whole tokens, so "--test-subset" is that and
// never "--subset".
std::set<std::string> flag_tokens(const std::string& text) {
  std::set<std::string> tokens;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '-' || !word_starts(text, i)) continue;
    size_t end = i;
    while (end < text.size() && flag_char(text[end])) ++end;
    const std::string token = text.substr(i, end - i);
    const size_t dashes = token.rfind("--", 0) == 0 ? 2 : 1;
    if (token.size() > dashes && std::isalpha(static_cast<unsigned char>(token[dashes])))
      tokens.insert(token);
    i = end;
  }
  return tokens;
}

// The flags (names and aliases) of an app's table, as --help-markdown lists
// them: the code spans of each row's first cell that start with '-'.
std::set<std::string> markdown_flags(const std::string& markdown) {
  std::set<std::string> flags;
  std::istringstream lines(markdown);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("| `", 0) != 0) continue;
    const std::string cell = line.substr(2, line.find(" | ", 2) - 2);
    for (size_t open = cell.find('`'); open != std::string::npos; open = cell.find('`', open + 1)) {
      const size_t close = cell.find('`', open + 1);
      const std::string code = cell.substr(open + 1, close - open - 1);
      if (code.rfind('-', 0) == 0) flags.insert(code.substr(0, code.find(' ')));
      open = close;
    }
  }
  return flags;
}

std::set<std::string> minus(const std::set<std::string>& a, const std::set<std::string>& b) {
  std::set<std::string> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::inserter(out, out.end()));
  return out;
}

std::string joined(const std::set<std::string>& s) {
  std::string out;
  for (const std::string& x : s) out += (out.empty() ? "" : " ") + x;
  return out;
}

// Every flag of each app's table is in its --help as a whole token, and
// nothing in --help looks like a flag the table does not have (a renamed
// flag in the prose, a typo).
TEST(FlagHelp, EveryAppListsExactlyTheFlagsOfItsTable) {
  for (const std::string app : {"train_cifar", "evaluate", "predict", "export"}) {
    const std::set<std::string> table = markdown_flags(app_output(app, "--help-markdown"));
    const std::set<std::string> help = flag_tokens(app_output(app, "--help"));
    EXPECT_GE(table.size(), 4u) << app << ": the table read from --help-markdown is too small";
    EXPECT_EQ(minus(table, help), std::set<std::string>{})
        << app << ": in the table, not in --help";
    EXPECT_EQ(minus(help, table), std::set<std::string>{})
        << app << ": in --help, not in the table";
  }
}

// --help-markdown lists the table itself: for train_cifar, whose table the
// tests can read, every name and alias of it and nothing else.
TEST(FlagHelp, MarkdownListsTheWholeTrainTable) {
  app::TrainOptions o;
  std::set<std::string> table;
  const FlagTable train = app::train_flags(o);
  for (const app::Flag& f : train.flags()) {
    table.insert(f.name);
    table.insert(f.aliases.begin(), f.aliases.end());
  }
  EXPECT_EQ(joined(markdown_flags(app_output("train_cifar", "--help-markdown"))), joined(table));
}

TEST(FlagDocs, FlagsMdIsWhatTheAppsPrint) {
  const fs::path doc = kSourceDir / "docs" / "flags.md";
  const std::string regenerate = "regenerate it: ./scripts/update_flag_docs.sh " +
                                 std::string(TL_BUILD_DIR) + " (from " + kSourceDir.string() + ")";
  const Output generated = run("bash " + (kSourceDir / "scripts" / "update_flag_docs.sh").string() +
                               " --stdout " + TL_BUILD_DIR);
  ASSERT_EQ(generated.exit_code, 0)
      << "scripts/update_flag_docs.sh failed (its error is in the log above)";
  std::ifstream in(doc);
  ASSERT_TRUE(in) << doc << " is missing; " << regenerate;
  std::stringstream committed;
  committed << in.rdbuf();
  if (committed.str() == generated.text) return;
  // Say where they part.
  auto lines_of = [](const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  };
  const std::vector<std::string> old_lines = lines_of(committed.str()),
                                 new_lines = lines_of(generated.text);
  size_t at = 0;
  while (at < old_lines.size() && at < new_lines.size() && old_lines[at] == new_lines[at]) ++at;
  auto line_or_end = [](const std::vector<std::string>& lines, size_t i) {
    return i < lines.size() ? lines[i] : std::string("(end of file)");
  };
  ADD_FAILURE() << "docs/flags.md is not what the apps' flag tables print; " << regenerate
                << "\nfirst difference, line " << at + 1
                << ":\n  docs/flags.md: " << line_or_end(old_lines, at)
                << "\n  generated:     " << line_or_end(new_lines, at);
}

}  // namespace
}  // namespace tl::test
