// An app's command-line flags, written once: a table of rows (name, value
// placeholder, default, one line of help, how the value is read), each bound
// to a field of the app's options struct. The same table parses argv, prints
// --help and prints the Markdown reference (--help-markdown, docs/flags.md),
// so the three cannot drift apart.
//
//   EvaluateOptions o;
//   FlagTable flags("evaluate", "test a checkpoint");
//   flags.add(int_flag("--batch-size", o.batch_size, {.min = 1}, "images per batch"));
//   flags.parse(argc, argv);  // errors name the flag and what it expects
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace tl::app {

// One row of a table. Made by the functions below, which bind it to a field.
struct Flag {
  enum class Takes {
    kNothing,        // a switch: --nesterov
    kValue,          // --epochs N or --epochs=N
    kOptionalValue,  // --resume, --resume PATH (a next word not starting with "--"), --resume=PATH
    kPositional,     // the words that are not flags (predict's IMAGE...)
  };

  std::string name;                  // "--batch-size"; a positional row: its placeholder
  std::vector<std::string> aliases;  // other spellings ("-h")
  std::string placeholder;           // "N", "DIR", "sgd|adam|adamw"; "" for a switch
  std::string default_text;          // the default as shown; "" when there is none to show
  std::string help;                  // one line (--help wraps it)
  Takes takes = Takes::kValue;
  std::string bare_value;  // kOptionalValue: the value when none is given
  std::string section;     // the --help heading it stands under (set by FlagTable)
  // Checks a value and stores it in the bound field; its errors name the
  // flag and say what it expects. A switch gets "".
  std::function<void(const std::string& value)> store;

  // The default as shown where the field's initial value does not say it
  // ("lr / 10" for a field that holds -1).
  Flag& shows_default(std::string text);
  // Another spelling of the same flag.
  Flag& also_spelled(std::string alias);
};

struct IntRange {
  int64_t min = 0;
  int64_t max = std::numeric_limits<int64_t>::max();
};

// Finite numbers in [min, below).
struct NumberRange {
  double min = 0;
  double below = std::numeric_limits<double>::infinity();
};

// An integer in `range`. The default shown is the field's value now.
Flag int_flag(std::string name, int64_t& field, IntRange range, std::string help);
Flag int_flag(std::string name, uint64_t& field, IntRange range, std::string help);
// A finite number in `range` (for a float field, also one a float can hold).
Flag number_flag(std::string name, double& field, NumberRange range, std::string help);
Flag number_flag(std::string name, float& field, NumberRange range, std::string help);
// One of `choices`; the placeholder lists them ("flatten|avg").
Flag choice_flag(std::string name, std::string& field, std::vector<std::string> choices,
                 std::string help);
// A non-empty string: a path (placeholder DIR, FILE, PATH) or other text.
// `problem`, when given, returns what is wrong with a value ("" when nothing
// is), e.g. "expected a path ending in .keras, .weights.h5 or .h5".
using TextCheck = std::function<std::string(const std::string& value)>;
Flag text_flag(std::string name, std::string& field, std::string placeholder, std::string help,
               TextCheck problem = {});
// A switch: stores `when_given` (true unless it is a --no-... switch).
Flag switch_flag(std::string name, bool& field, std::string help, bool when_given = true);
// A flag whose value may be left out, then `bare_value` is stored.
Flag optional_value_flag(std::string name, std::string& field, std::string placeholder,
                         std::string bare_value, std::string help);
// The arguments that are not flags, in their order ("IMAGE..." in --help).
Flag positional_args(std::string placeholder, std::vector<std::string>& field, std::string help);

// One flag as it stands on a command line: the row it is (a pointer into
// the table, valid while the table lives), the value typed for it, and the
// argv words it took (`--epochs 3`: two; `--epochs=3`: one).
struct FlagUse {
  const Flag* flag = nullptr;
  std::string value;
  int first_arg = 0;
  int last_arg = 0;
};

class FlagTable {
 public:
  // `summary`: what the app does, one line ("fine-tune ResNet50 on CIFAR-10").
  FlagTable(std::string app, std::string summary);

  // The usage line after the app's name; "[FLAGS]" unless set.
  FlagTable& usage(std::string line);
  // A paragraph after the usage line, and one after the flags.
  FlagTable& about(std::string prose);
  FlagTable& notes(std::string prose);
  // The rows added next stand under this heading in --help.
  FlagTable& section(std::string title);
  // A row; a spelling that is already in the table is a programming error.
  FlagTable& add(Flag flag);
  // --help (-h) and --help-markdown, bound to the app's two request fields.
  FlagTable& add_help_flags(bool& help, bool& help_markdown);

  const std::string& app() const { return app_; }
  const std::vector<Flag>& flags() const { return flags_; }

  // The flags of argv[1..argc) in their order, values not yet checked. Fails
  // on an unknown flag (naming it and pointing at --help), a missing value,
  // a value given to a switch, or a stray word where the app takes none.
  std::vector<FlagUse> scan(int argc, char* const* argv) const;
  // scan, then each value checked and stored in order (so the last wins).
  void parse(int argc, char* const* argv) const;

  std::string help() const;      // --help
  std::string markdown() const;  // --help-markdown: a heading and one Markdown table

 private:
  const Flag* find(const std::string& spelling) const;
  const Flag* positional() const;

  std::string app_, summary_, usage_ = "[FLAGS]", about_, notes_, section_;
  std::vector<Flag> flags_;
};

// Prints what --help or --help-markdown asked for; false when neither was.
bool print_help_if_asked(const FlagTable& flags, bool help, bool help_markdown);
// An app's first step: parses argv with `flags`, then print_help_if_asked
// with the two fields add_help_flags bound. True: help was printed, exit 0.
bool parse_or_print_help(const FlagTable& flags, int argc, char* const* argv, const bool& help,
                         const bool& help_markdown);

// The whole of `text` as an integer >= min_value, else a tl::Error naming
// `what` (a flag, an environment variable).
int64_t parse_int(const std::string& what, const std::string& text, int64_t min_value);

}  // namespace tl::app
