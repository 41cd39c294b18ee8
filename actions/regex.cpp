// SPDX-License-Identifier: GPL-3.0-or-later
// Compiles 'rx:' patterns to a Pike VM program (Thompson construction) and runs it on stack
// memory: one pass over the text, no backtracking, no allocation.
#include "ctlabeld/actions/regex.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <memory>

namespace ctlabeld::actions {
namespace {

constexpr int kInfinite = -1;
constexpr int kMaxRepeat = 255;

// ASCII folding, inline: the VM calls it once per text byte.
constexpr unsigned char lower(unsigned char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c - 'A' + 'a') : c;
}

struct Node {
  enum class Kind { kEmpty, kChar, kAny, kClass, kCat, kAlt, kRepeat, kBol, kEol } kind;
  unsigned char ch = 0;
  std::uint16_t cls = 0;
  int min = 0;
  int max = 0;
  std::vector<std::unique_ptr<Node>> kids;
};
using NodePtr = std::unique_ptr<Node>;

NodePtr make(Node::Kind kind) {
  auto n = std::make_unique<Node>();
  n->kind = kind;
  return n;
}

class Parser {
 public:
  Parser(std::string_view p, std::vector<std::bitset<256>>& classes) : p_(p), classes_(classes) {}

  NodePtr parse(std::string& error) {
    NodePtr n = parse_alt();
    if (error_.empty() && pos_ < p_.size()) fail("unmatched ')'");
    if (!error_.empty()) {
      error = error_;
      return nullptr;
    }
    return n;
  }

 private:
  void fail(const std::string& what) {
    if (error_.empty()) error_ = what + " at offset " + std::to_string(pos_);
  }
  bool at_end() const { return pos_ >= p_.size(); }
  char peek() const { return p_[pos_]; }

  NodePtr parse_alt() {
    NodePtr first = parse_cat();
    if (at_end() || peek() != '|') return first;
    NodePtr alt = make(Node::Kind::kAlt);
    alt->kids.push_back(std::move(first));
    while (error_.empty() && !at_end() && peek() == '|') {
      ++pos_;
      alt->kids.push_back(parse_cat());
    }
    return alt;
  }

  NodePtr parse_cat() {
    NodePtr cat = make(Node::Kind::kCat);
    while (error_.empty() && !at_end() && peek() != '|' && peek() != ')') {
      cat->kids.push_back(parse_repeat());
    }
    return cat;
  }

  NodePtr parse_repeat() {
    NodePtr atom = parse_atom();
    while (error_.empty() && !at_end()) {
      int min = 0;
      int max = 0;
      const char c = peek();
      if (c == '*') {
        min = 0, max = kInfinite, ++pos_;
      } else if (c == '+') {
        min = 1, max = kInfinite, ++pos_;
      } else if (c == '?') {
        min = 0, max = 1, ++pos_;
      } else if (c == '{') {
        if (!parse_braces(min, max)) return atom;
      } else {
        break;
      }
      if (atom->kind == Node::Kind::kBol || atom->kind == Node::Kind::kEol) {
        fail("nothing to repeat");
        return atom;
      }
      NodePtr rep = make(Node::Kind::kRepeat);
      rep->min = min;
      rep->max = max;
      rep->kids.push_back(std::move(atom));
      atom = std::move(rep);
    }
    return atom;
  }

  bool read_int(int& out) {
    if (at_end() || !std::isdigit(static_cast<unsigned char>(peek()))) return false;
    out = 0;
    while (!at_end() && std::isdigit(static_cast<unsigned char>(peek()))) {
      out = out * 10 + (peek() - '0');
      if (out > kMaxRepeat) {
        fail("repetition count above " + std::to_string(kMaxRepeat));
        return false;
      }
      ++pos_;
    }
    return true;
  }

  bool parse_braces(int& min, int& max) {
    ++pos_;  // '{'
    if (!read_int(min)) {
      fail("expected a number after '{'");
      return false;
    }
    max = min;
    if (!at_end() && peek() == ',') {
      ++pos_;
      max = kInfinite;
      if (!at_end() && peek() != '}' && !read_int(max)) {
        fail("expected a number or '}' in '{m,n}'");
        return false;
      }
    }
    if (at_end() || peek() != '}') {
      fail("expected '}'");
      return false;
    }
    ++pos_;
    if (max != kInfinite && max < min) {
      fail("'{m,n}' with n below m");
      return false;
    }
    return true;
  }

  NodePtr class_node(const std::bitset<256>& set) {
    std::bitset<256> folded;
    for (unsigned c = 0; c < 256; ++c) {
      if (set[c]) folded.set(lower(static_cast<unsigned char>(c)));
    }
    NodePtr n = make(Node::Kind::kClass);
    n->cls = static_cast<std::uint16_t>(classes_.size());
    classes_.push_back(folded);
    return n;
  }

  static void add_named(std::bitset<256>& set, int (*pred)(int), bool negate) {
    for (int c = 0; c < 256; ++c) {
      if ((pred(c) != 0) != negate) set.set(static_cast<std::size_t>(c));
    }
  }

  static int is_word(int c) { return std::isalnum(c) || c == '_'; }
  static int is_digit(int c) { return std::isdigit(c); }
  static int is_space(int c) { return std::isspace(c); }

  // \d \w \s and their negations; false when `c` is not one of them.
  static bool escape_class(char c, std::bitset<256>& set) {
    switch (c) {
      case 'd': add_named(set, is_digit, false); return true;
      case 'D': add_named(set, is_digit, true); return true;
      case 'w': add_named(set, is_word, false); return true;
      case 'W': add_named(set, is_word, true); return true;
      case 's': add_named(set, is_space, false); return true;
      case 'S': add_named(set, is_space, true); return true;
      default: return false;
    }
  }

  NodePtr parse_atom() {
    if (at_end()) {
      fail("unexpected end of pattern");
      return make(Node::Kind::kEmpty);
    }
    const char c = peek();
    ++pos_;
    switch (c) {
      case '(': {
        NodePtr inner = parse_alt();
        if (at_end() || peek() != ')') {
          fail("missing ')'");
          return inner;
        }
        ++pos_;
        return inner;
      }
      case '[': return parse_bracket();
      case '.': return make(Node::Kind::kAny);
      case '^': return make(Node::Kind::kBol);
      case '$': return make(Node::Kind::kEol);
      case '*':
      case '+':
      case '?':
      case '{':
        --pos_;
        fail("nothing to repeat");
        return make(Node::Kind::kEmpty);
      case '\\': {
        if (at_end()) {
          fail("trailing backslash");
          return make(Node::Kind::kEmpty);
        }
        const char e = peek();
        ++pos_;
        std::bitset<256> set;
        if (escape_class(e, set)) return class_node(set);
        if (std::isalnum(static_cast<unsigned char>(e))) {
          --pos_;
          fail(std::string("unsupported escape '\\") + e + "'");
          return make(Node::Kind::kEmpty);
        }
        NodePtr n = make(Node::Kind::kChar);
        n->ch = lower(static_cast<unsigned char>(e));
        return n;
      }
      default: {
        NodePtr n = make(Node::Kind::kChar);
        n->ch = lower(static_cast<unsigned char>(c));
        return n;
      }
    }
  }

  bool named_class(std::bitset<256>& set) {
    // At "[:name:]" inside a bracket.
    static constexpr struct {
      const char* name;
      int (*pred)(int);
    } kNamed[] = {{"alpha", [](int x) { return std::isalpha(x); }},
                  {"digit", [](int x) { return std::isdigit(x); }},
                  {"alnum", [](int x) { return std::isalnum(x); }},
                  {"space", [](int x) { return std::isspace(x); }},
                  {"upper", [](int x) { return std::isupper(x); }},
                  {"lower", [](int x) { return std::islower(x); }},
                  {"punct", [](int x) { return std::ispunct(x); }},
                  {"xdigit", [](int x) { return std::isxdigit(x); }}};
    const std::size_t close = p_.find(":]", pos_ + 2);
    if (close == std::string_view::npos) {
      fail("unterminated '[:'");
      return false;
    }
    const std::string_view name = p_.substr(pos_ + 2, close - pos_ - 2);
    for (const auto& n : kNamed) {
      if (name == n.name) {
        add_named(set, n.pred, false);
        pos_ = close + 2;
        return true;
      }
    }
    fail("unknown character class '[:" + std::string(name) + ":]'");
    return false;
  }

  NodePtr parse_bracket() {
    std::bitset<256> set;
    bool negate = false;
    if (!at_end() && peek() == '^') negate = true, ++pos_;
    bool first = true;
    while (true) {
      if (at_end()) {
        fail("missing ']'");
        return make(Node::Kind::kEmpty);
      }
      char c = peek();
      if (c == ']' && !first) {
        ++pos_;
        break;
      }
      first = false;
      if (c == '[' && pos_ + 1 < p_.size() && p_[pos_ + 1] == ':') {
        if (!named_class(set)) return make(Node::Kind::kEmpty);
        continue;
      }
      ++pos_;
      if (c == '\\' && !at_end()) {
        if (escape_class(peek(), set)) {
          ++pos_;
          continue;
        }
        c = peek();
        ++pos_;
      }
      unsigned char lo = static_cast<unsigned char>(c);
      unsigned char hi = lo;
      if (pos_ + 1 < p_.size() && peek() == '-' && p_[pos_ + 1] != ']') {
        hi = static_cast<unsigned char>(p_[pos_ + 1]);
        pos_ += 2;
        if (hi < lo) {
          fail("invalid range in '[...]'");
          return make(Node::Kind::kEmpty);
        }
      }
      for (unsigned x = lo; x <= hi; ++x) {
        set.set(x);
        set.set(static_cast<unsigned char>(std::toupper(static_cast<int>(x))));
      }
    }
    if (negate) {
      // Fold before negating so [^a] also excludes 'A'.
      std::bitset<256> folded;
      for (unsigned x = 0; x < 256; ++x) {
        if (set[x]) {
          folded.set(lower(static_cast<unsigned char>(x)));
          folded.set(static_cast<unsigned char>(std::toupper(static_cast<int>(x))));
        }
      }
      set = ~folded;
    }
    return class_node(set);
  }

  std::string_view p_;
  std::vector<std::bitset<256>>& classes_;
  std::size_t pos_ = 0;
  std::string error_;
};

class Emitter {
 public:
  explicit Emitter(std::vector<Regex::Inst>& prog) : prog_(prog) {}
  bool too_big() const { return too_big_; }

  std::uint16_t pc() const { return static_cast<std::uint16_t>(prog_.size()); }

  std::size_t emit_inst(Regex::Inst inst) {
    if (prog_.size() >= Regex::kMaxInstructions) {
      too_big_ = true;
      return prog_.size() - 1;
    }
    prog_.push_back(inst);
    return prog_.size() - 1;
  }

  void emit(const Node& n) {
    if (too_big_) return;
    using K = Node::Kind;
    using Op = Regex::Op;
    switch (n.kind) {
      case K::kEmpty: return;
      case K::kChar: emit_inst({Op::kChar, n.ch, 0, 0}); return;
      case K::kAny: emit_inst({Op::kAny, 0, 0, 0}); return;
      case K::kClass: emit_inst({Op::kClass, 0, n.cls, 0}); return;
      case K::kBol: emit_inst({Op::kBol, 0, 0, 0}); return;
      case K::kEol: emit_inst({Op::kEol, 0, 0, 0}); return;
      case K::kCat:
        for (const auto& k : n.kids) emit(*k);
        return;
      case K::kAlt: {
        std::vector<std::size_t> jumps;
        for (std::size_t i = 0; i < n.kids.size(); ++i) {
          if (i + 1 < n.kids.size()) {
            const std::size_t split = emit_inst({Op::kSplit, 0, 0, 0});
            prog_[split].x = pc();
            emit(*n.kids[i]);
            jumps.push_back(emit_inst({Op::kJmp, 0, 0, 0}));
            prog_[split].y = pc();
          } else {
            emit(*n.kids[i]);
          }
        }
        for (std::size_t j : jumps) prog_[j].x = pc();
        return;
      }
      case K::kRepeat: {
        const Node& child = *n.kids[0];
        for (int i = 0; i < n.min && !too_big_; ++i) emit(child);
        if (n.max == kInfinite) {
          const std::size_t split = emit_inst({Op::kSplit, 0, 0, 0});
          prog_[split].x = pc();
          emit(child);
          emit_inst({Op::kJmp, 0, static_cast<std::uint16_t>(split), 0});
          prog_[split].y = pc();
        } else {
          std::vector<std::size_t> splits;
          for (int i = n.min; i < n.max && !too_big_; ++i) {
            const std::size_t split = emit_inst({Op::kSplit, 0, 0, 0});
            prog_[split].x = pc();
            splits.push_back(split);
            emit(child);
          }
          for (std::size_t s : splits) prog_[s].y = pc();
        }
        return;
      }
    }
  }

 private:
  std::vector<Regex::Inst>& prog_;
  bool too_big_ = false;
};

// A sparse set of program counters: O(1) insert, membership and clear, on caller memory.
struct ThreadList {
  std::uint16_t* dense;
  std::uint16_t* sparse;
  std::size_t size = 0;
  bool contains(std::uint16_t pc) const { return sparse[pc] < size && dense[sparse[pc]] == pc; }
  void insert(std::uint16_t pc) {
    sparse[pc] = static_cast<std::uint16_t>(size);
    dense[size++] = pc;
  }
};

}  // namespace

bool Regex::compile(std::string_view pattern, std::string& error) {
  pattern_.assign(pattern);
  program_.clear();
  classes_.clear();
  Parser parser(pattern, classes_);
  NodePtr root = parser.parse(error);
  if (!root) return false;
  Emitter emitter(program_);
  emitter.emit(*root);
  emitter.emit_inst({Op::kMatch, 0, 0, 0});
  if (emitter.too_big()) {
    error = "pattern too large (more than " + std::to_string(kMaxInstructions) +
            " instructions after expanding repetitions)";
    return false;
  }
  return true;
}

namespace {

struct BudgetState {
  bool in_flow = false;
  std::uint64_t left = Regex::kStepsPerFlow;
};
thread_local BudgetState t_budget;
std::atomic<std::uint64_t> g_budget_exceeded{0};

// Draws on the thread's budget for one search; writes back what is left when done.
class StepBudget {
 public:
  StepBudget() noexcept : left_(t_budget.in_flow ? t_budget.left : Regex::kStepsPerFlow) {}
  ~StepBudget() {
    if (t_budget.in_flow) t_budget.left = left_;
  }
  StepBudget(const StepBudget&) = delete;
  StepBudget& operator=(const StepBudget&) = delete;
  // False (and counted) when `steps` more would exceed the budget.
  bool take(std::size_t steps) noexcept {
    if (steps > left_) {
      left_ = 0;
      g_budget_exceeded.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    left_ -= steps;
    return true;
  }

 private:
  std::uint64_t left_;
};

}  // namespace

Regex::FlowBudget::FlowBudget() noexcept {
  t_budget.in_flow = true;
  t_budget.left = kStepsPerFlow;
}

Regex::FlowBudget::~FlowBudget() { t_budget.in_flow = false; }

std::uint64_t Regex::budget_exceeded() noexcept {
  return g_budget_exceeded.load(std::memory_order_relaxed);
}

bool Regex::search(std::string_view text) const noexcept {
  const std::size_t n_insts = program_.size();
  if (n_insts == 0) return false;
  StepBudget budget;
  if (!budget.take(1)) return false;  // this flow's budget is already spent
  std::uint16_t mem[4][kMaxInstructions];
  // Only the sparse halves need defined contents, and only for this program's length.
  std::fill_n(mem[1], n_insts, std::uint16_t{0});
  std::fill_n(mem[3], n_insts, std::uint16_t{0});
  ThreadList lists[2] = {{mem[0], mem[1], 0}, {mem[2], mem[3], 0}};
  std::uint16_t stack[2 * kMaxInstructions + 2];
  const std::size_t len = text.size();
  bool matched = false;

  // Follows empty transitions from `start` at text position `pos`.
  auto add = [&](ThreadList& list, std::uint16_t start, std::size_t pos) {
    std::size_t top = 0;
    stack[top++] = start;
    while (top > 0) {
      const std::uint16_t pc = stack[--top];
      if (list.contains(pc)) continue;
      list.insert(pc);
      const Inst& inst = program_[pc];
      switch (inst.op) {
        case Op::kJmp: stack[top++] = inst.x; break;
        case Op::kSplit:
          stack[top++] = inst.y;
          stack[top++] = inst.x;
          break;
        case Op::kBol:
          if (pos == 0) stack[top++] = static_cast<std::uint16_t>(pc + 1);
          break;
        case Op::kEol:
          if (pos == len) stack[top++] = static_cast<std::uint16_t>(pc + 1);
          break;
        case Op::kMatch: matched = true; break;
        default: break;
      }
    }
  };

  for (std::size_t i = 0;; ++i) {
    ThreadList& cur = lists[i & 1];
    add(cur, 0, i);  // unanchored search: a new thread may start at every position
    if (matched) return true;
    if (i == len) return false;
    // Each live thread is one step at this byte (added and, next, advanced); beyond the budget
    // the search gives up.
    if (!budget.take(cur.size)) return false;
    ThreadList& next = lists[(i + 1) & 1];
    next.size = 0;
    const unsigned char c = lower(static_cast<unsigned char>(text[i]));
    for (std::size_t t = 0; t < cur.size; ++t) {
      const std::uint16_t pc = cur.dense[t];
      const Inst& inst = program_[pc];
      bool step = false;
      switch (inst.op) {
        case Op::kChar: step = inst.ch == c; break;
        case Op::kAny: step = true; break;
        case Op::kClass: step = classes_[inst.x][c]; break;
        default: break;
      }
      if (step) add(next, static_cast<std::uint16_t>(pc + 1), i + 1);
      if (matched) return true;
    }
    cur.size = 0;
  }
}

}  // namespace ctlabeld::actions
