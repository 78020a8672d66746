#include "apps/flag_table.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <iostream>
#include <sstream>

#include "runtime/check.h"

namespace tl::app {
namespace {

// --help: the help text of every flag starts at this column; lines end by kWidth.
constexpr size_t kHelpColumn = 33;
constexpr size_t kWidth = 100;

// The whole of `text` as a number (no sign other than '-', no spaces).
template <class T>
bool read_whole(const std::string& text, T& out) {
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, out);
  return error == std::errc() && stop == end;
}

// As --help and the Markdown show a default: 224, 0.0005, 0.99.
std::string format_number(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

std::string describe(IntRange r) {
  if (r.max == std::numeric_limits<int64_t>::max()) return ">= " + std::to_string(r.min);
  return "from " + std::to_string(r.min) + " to " + std::to_string(r.max);
}

std::string describe(NumberRange r) {
  if (std::isinf(r.below)) return ">= " + format_number(r.min);
  return "in [" + format_number(r.min) + ", " + format_number(r.below) + ")";
}

Flag make_flag(std::string name, std::string placeholder, std::string default_text,
               std::string help, Flag::Takes takes) {
  Flag f;
  f.name = std::move(name);
  f.placeholder = std::move(placeholder);
  f.default_text = std::move(default_text);
  f.help = std::move(help);
  f.takes = takes;
  return f;
}

Flag any_int_flag(std::string name, int64_t current, IntRange range, std::string help,
                  std::function<void(int64_t)> set) {
  Flag f = make_flag(name, "N", std::to_string(current), std::move(help), Flag::Takes::kValue);
  f.store = [name, range, set](const std::string& v) {
    int64_t x = 0;
    if (!read_whole(v, x) || x < range.min || x > range.max)
      fail(name, ": expected an integer ", describe(range), ", got '", v, "'");
    set(x);
  };
  return f;
}

// `largest`: what the field's type holds (a float overflows to inf far below a double).
Flag any_number_flag(std::string name, double current, NumberRange range, double largest,
                     std::string help, std::function<void(double)> set) {
  Flag f = make_flag(name, "F", format_number(current), std::move(help), Flag::Takes::kValue);
  f.store = [name, range, largest, set](const std::string& v) {
    double x = 0;
    if (!read_whole(v, x) || !std::isfinite(x) || std::abs(x) > largest || x < range.min ||
        !(x < range.below))
      fail(name, ": expected a finite number ", describe(range), ", got '", v, "'");
    set(x);
  };
  return f;
}

// Wraps `text` into lines of at most kWidth characters (a longer word stands
// alone). The first line already holds `first_used` characters; the others
// are indented by `indent` spaces.
std::string wrap(const std::string& text, size_t first_used, size_t indent) {
  std::istringstream words(text);
  std::string out, word;
  size_t used = first_used;
  bool line_empty = true;
  while (words >> word) {
    if (!line_empty && used + 1 + word.size() > kWidth) {
      out += "\n" + std::string(indent, ' ');
      used = indent;
      line_empty = true;
    }
    if (!line_empty) out += ' ', ++used;
    out += word;
    used += word.size();
    line_empty = false;
  }
  return out;
}

// Paragraphs (separated by a blank line), each wrapped to kWidth.
std::string paragraphs(const std::string& prose) {
  std::string out;
  size_t start = 0;
  while (start < prose.size()) {
    size_t end = prose.find("\n\n", start);
    if (end == std::string::npos) end = prose.size();
    out += wrap(prose.substr(start, end - start), 0, 0) + "\n\n";
    start = end + 2;
  }
  return out;
}

// A row's name and value as written: "--freeze none|backbone", "--resume [PATH]", "IMAGE...".
std::string spelling(const Flag& f) {
  if (f.takes == Flag::Takes::kPositional) return f.name + "...";
  if (f.takes == Flag::Takes::kOptionalValue) return f.name + " [" + f.placeholder + "]";
  return f.placeholder.empty() ? f.name : f.name + " " + f.placeholder;
}

// Markdown. In a table cell '|' ends the cell, even inside `code`; in text
// '<' and '*' would start HTML or emphasis.
std::string markdown_code(const std::string& s) { return "`" + s + "`"; }

std::string markdown_cell_code(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return "`" + out + "`";
}

std::string markdown_text(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|' || c == '<' || c == '*') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

Flag& Flag::shows_default(std::string text) {
  default_text = std::move(text);
  return *this;
}

Flag& Flag::also_spelled(std::string alias) {
  aliases.push_back(std::move(alias));
  return *this;
}

Flag int_flag(std::string name, int64_t& field, IntRange range, std::string help) {
  return any_int_flag(std::move(name), field, range, std::move(help),
                      [&field](int64_t v) { field = v; });
}

Flag int_flag(std::string name, uint64_t& field, IntRange range, std::string help) {
  TL_CHECK(range.min >= 0, name, ": an unsigned field needs a range of non-negative values");
  return any_int_flag(std::move(name), static_cast<int64_t>(field), range, std::move(help),
                      [&field](int64_t v) { field = static_cast<uint64_t>(v); });
}

Flag number_flag(std::string name, double& field, NumberRange range, std::string help) {
  return any_number_flag(std::move(name), field, range, std::numeric_limits<double>::max(),
                         std::move(help), [&field](double v) { field = v; });
}

Flag number_flag(std::string name, float& field, NumberRange range, std::string help) {
  return any_number_flag(std::move(name), field, range, std::numeric_limits<float>::max(),
                         std::move(help), [&field](double v) { field = static_cast<float>(v); });
}

Flag choice_flag(std::string name, std::string& field, std::vector<std::string> choices,
                 std::string help) {
  std::string bar_list, comma_list;
  for (const std::string& c : choices) {
    bar_list += (bar_list.empty() ? "" : "|") + c;
    comma_list += (comma_list.empty() ? "" : ", ") + c;
  }
  Flag f = make_flag(name, bar_list, field, std::move(help), Flag::Takes::kValue);
  f.store = [name, choices, comma_list, &field](const std::string& v) {
    if (std::find(choices.begin(), choices.end(), v) == choices.end())
      fail(name, ": expected one of ", comma_list, ", got '", v, "'");
    field = v;
  };
  return f;
}

Flag text_flag(std::string name, std::string& field, std::string placeholder, std::string help,
               TextCheck problem) {
  Flag f = make_flag(name, placeholder, field, std::move(help), Flag::Takes::kValue);
  f.store = [name, placeholder, problem, &field](const std::string& v) {
    if (v.empty()) fail(name, ": expected ", placeholder, ", got an empty value");
    if (problem)
      if (const std::string p = problem(v); !p.empty()) fail(name, ": ", p, ", got '", v, "'");
    field = v;
  };
  return f;
}

Flag switch_flag(std::string name, bool& field, std::string help, bool when_given) {
  Flag f = make_flag(std::move(name), "", "", std::move(help), Flag::Takes::kNothing);
  f.store = [&field, when_given](const std::string&) { field = when_given; };
  return f;
}

Flag optional_value_flag(std::string name, std::string& field, std::string placeholder,
                         std::string bare_value, std::string help) {
  Flag f = make_flag(name, placeholder, field, std::move(help), Flag::Takes::kOptionalValue);
  f.bare_value = std::move(bare_value);
  f.store = [name, placeholder, &field](const std::string& v) {
    if (v.empty()) fail(name, ": expected ", placeholder, " (or nothing), got an empty value");
    field = v;
  };
  return f;
}

Flag positional_args(std::string placeholder, std::vector<std::string>& field, std::string help) {
  Flag f = make_flag(std::move(placeholder), "", "", std::move(help), Flag::Takes::kPositional);
  f.store = [&field](const std::string& v) { field.push_back(v); };
  return f;
}

FlagTable::FlagTable(std::string app, std::string summary)
    : app_(std::move(app)), summary_(std::move(summary)) {}

FlagTable& FlagTable::usage(std::string line) {
  usage_ = std::move(line);
  return *this;
}

FlagTable& FlagTable::about(std::string prose) {
  about_ = std::move(prose);
  return *this;
}

FlagTable& FlagTable::notes(std::string prose) {
  notes_ = std::move(prose);
  return *this;
}

FlagTable& FlagTable::section(std::string title) {
  section_ = std::move(title);
  return *this;
}

FlagTable& FlagTable::add(Flag flag) {
  if (flag.takes == Flag::Takes::kPositional) {
    TL_CHECK(!positional(), app_, ": a second positional row, ", flag.name);
  } else {
    TL_CHECK(!find(flag.name), app_, ": flag ", flag.name, " is in the table twice");
    for (const std::string& alias : flag.aliases)
      TL_CHECK(!find(alias), app_, ": flag ", alias, " is in the table twice");
  }
  flag.section = section_;
  flags_.push_back(std::move(flag));
  return *this;
}

FlagTable& FlagTable::add_help_flags(bool& help, bool& help_markdown) {
  add(switch_flag("--help", help, "print this help").also_spelled("-h"));
  return add(switch_flag("--help-markdown", help_markdown,
                         "print the flags as a Markdown table (docs/flags.md is made of them)"));
}

const Flag* FlagTable::find(const std::string& spelling) const {
  for (const Flag& f : flags_) {
    if (f.takes == Flag::Takes::kPositional) continue;
    if (f.name == spelling ||
        std::find(f.aliases.begin(), f.aliases.end(), spelling) != f.aliases.end())
      return &f;
  }
  return nullptr;
}

const Flag* FlagTable::positional() const {
  for (const Flag& f : flags_)
    if (f.takes == Flag::Takes::kPositional) return &f;
  return nullptr;
}

std::vector<FlagUse> FlagTable::scan(int argc, char* const* argv) const {
  std::vector<FlagUse> uses;
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    FlagUse use;
    use.first_arg = i;
    if (word.size() < 2 || word[0] != '-') {  // not a flag ("-" alone is a word too)
      use.flag = positional();
      if (!use.flag)
        fail("unexpected argument '", word, "' (", app_,
             " takes only flags); run with --help to see the flags");
      use.value = word;
      use.last_arg = i;
      uses.push_back(use);
      continue;
    }
    // --name=value; a single-dash flag has no such form.
    std::string typed = word;
    const size_t eq = word.find('=');
    const bool value_attached = word.rfind("--", 0) == 0 && eq != std::string::npos;
    if (value_attached) {
      typed = word.substr(0, eq);
      use.value = word.substr(eq + 1);
    }
    use.flag = find(typed);
    if (!use.flag) fail("unknown flag '", typed, "'; run with --help to see the flags");
    switch (use.flag->takes) {
      case Flag::Takes::kNothing:
        if (value_attached) fail(typed, " takes no value, got '", word, "'");
        break;
      case Flag::Takes::kValue:
        if (value_attached) break;
        if (i + 1 >= argc) fail(typed, ": missing value (", use.flag->placeholder, ")");
        use.value = argv[++i];
        break;
      case Flag::Takes::kOptionalValue:
        if (value_attached) break;
        if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0)
          use.value = argv[++i];
        else
          use.value = use.flag->bare_value;
        break;
      case Flag::Takes::kPositional:
        break;  // find() never returns one
    }
    use.last_arg = i;
    uses.push_back(use);
  }
  return uses;
}

void FlagTable::parse(int argc, char* const* argv) const {
  for (const FlagUse& use : scan(argc, argv)) use.flag->store(use.value);
}

std::string FlagTable::help() const {
  std::string s = app_ + ": " + summary_ + "\n\nUsage: " + app_ + " " + usage_ + "\n\n";
  s += paragraphs(about_);
  std::string section = "\n";  // no row has this heading: the first row prints its own
  for (const Flag& f : flags_) {
    if (f.section != section) {
      if (section != "\n") s += "\n";
      section = f.section;
      if (!section.empty()) s += section + "\n";
    }
    std::string row = "  " + spelling(f);
    for (const std::string& alias : f.aliases) row += ", " + alias;
    if (row.size() + 2 <= kHelpColumn)
      row += std::string(kHelpColumn - row.size(), ' ');
    else
      row += "\n" + std::string(kHelpColumn, ' ');
    const std::string text =
        f.default_text.empty() ? f.help : f.help + " (default: " + f.default_text + ")";
    s += row + wrap(text, kHelpColumn, kHelpColumn) + "\n";
  }
  if (!notes_.empty()) s += "\n" + paragraphs(notes_);
  while (s.size() > 1 && s[s.size() - 2] == '\n') s.pop_back();  // ends in one newline
  return s;
}

std::string FlagTable::markdown() const {
  std::string summary = summary_;
  if (!summary.empty())
    summary[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(summary[0])));
  std::string s = "## " + app_ + "\n\n" + markdown_text(summary) +
                  "\n\nUsage: " + markdown_code(app_ + " " + usage_) + "\n\n";
  if (!about_.empty()) s += markdown_text(about_) + "\n\n";
  s += "| Flag | Default | Description |\n| --- | --- | --- |\n";
  std::string section;
  for (const Flag& f : flags_) {
    if (!f.section.empty() && f.section != section)  // a heading row, as in --help
      s += "| **" + markdown_text(f.section) + "** | | |\n";
    section = f.section;
    std::string names = markdown_cell_code(spelling(f));
    for (const std::string& alias : f.aliases) names += ", " + markdown_cell_code(alias);
    s += "| " + names + " | " + markdown_text(f.default_text) + " | " + markdown_text(f.help) +
         " |\n";
  }
  if (!notes_.empty()) s += "\n" + markdown_text(notes_) + "\n";
  return s;
}

bool print_help_if_asked(const FlagTable& flags, bool help, bool help_markdown) {
  if (help_markdown)
    std::cout << flags.markdown();
  else if (help)
    std::cout << flags.help();
  return help || help_markdown;
}

bool parse_or_print_help(const FlagTable& flags, int argc, char* const* argv, const bool& help,
                         const bool& help_markdown) {
  flags.parse(argc, argv);
  return print_help_if_asked(flags, help, help_markdown);
}

int64_t parse_int(const std::string& what, const std::string& text, int64_t min_value) {
  int64_t v = 0;
  if (!read_whole(text, v) || v < min_value)
    fail(what, ": expected an integer ", describe(IntRange{.min = min_value}), ", got '", text,
         "'");
  return v;
}

}  // namespace tl::app
