#include "config/yaml_tree.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <map>
#include <sstream>

namespace iotgw::config::yaml {

namespace {

class builder final : public YAML::EventHandler {
 public:
  explicit builder(std::vector<problem>& problems) : problems_(problems) {}

  std::shared_ptr<node> root;
  YAML::Mark start;

  void OnDocumentStart(const YAML::Mark& mark) override { start = mark; }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto n = std::make_shared<node>();
    n->mark = mark;
    finish(std::move(n), anchor);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    const auto it = anchors_.find(anchor);
    if (it == anchors_.end() || !it->second.complete) {
      // yaml-cpp would tie the node into itself; a tree cannot, and no
      // configuration needs it.
      problems_.push_back({mark, "an alias may not refer to a node that contains it"});
      auto n = std::make_shared<node>();
      n->mark = mark;
      add(std::move(n));
      return;
    }
    add(it->second.target);  // shared, not copied: a chain of aliases stays small
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    auto n = std::make_shared<node>();
    n->type = node::kind::scalar;
    n->mark = mark;
    n->tag = tag;
    n->value = value;
    finish(std::move(n), anchor);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(node::kind::sequence, mark, tag, anchor);
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(node::kind::map, mark, tag, anchor);
  }
  void OnMapEnd() override { close(); }

 private:
  struct open_node {
    std::shared_ptr<node> target;
    YAML::anchor_t anchor;
    std::shared_ptr<const node> pending_key;  // maps: a key waiting for its value
  };
  struct anchored {
    std::shared_ptr<const node> target;
    bool complete;
  };

  void open(node::kind kind, const YAML::Mark& mark, const std::string& tag,
            YAML::anchor_t anchor) {
    auto n = std::make_shared<node>();
    n->type = kind;
    n->mark = mark;
    n->tag = tag;
    if (anchor != YAML::NullAnchor) anchors_[anchor] = {n, false};
    stack_.push_back({std::move(n), anchor, nullptr});
  }

  void close() {
    if (stack_.empty()) return;
    auto top = std::move(stack_.back());
    stack_.pop_back();
    if (top.pending_key) {
      // A key with no value event (yaml-cpp always sends one; stay total anyway).
      auto n = std::make_shared<node>();
      n->mark = top.pending_key->mark;
      top.target->pairs.emplace_back(std::move(top.pending_key), std::move(n));
    }
    finish(std::move(top.target), top.anchor);
  }

  void finish(std::shared_ptr<node> n, YAML::anchor_t anchor) {
    if (anchor != YAML::NullAnchor) anchors_[anchor] = {n, true};
    add(std::move(n));
  }

  void add(std::shared_ptr<const node> n) {
    if (stack_.empty()) {
      if (!root) root = std::const_pointer_cast<node>(n);
      return;
    }
    auto& top = stack_.back();
    if (top.target->type == node::kind::sequence) {
      top.target->items.push_back(std::move(n));
    } else if (!top.pending_key) {
      top.pending_key = std::move(n);
    } else {
      top.target->pairs.emplace_back(std::move(top.pending_key), std::move(n));
      top.pending_key = nullptr;
    }
  }

  std::vector<problem>& problems_;
  std::vector<open_node> stack_;
  std::map<YAML::anchor_t, anchored> anchors_;
};

// The stuck-parser case: an empty document whose node sits on a ','.
bool stray_comma(std::string_view text, const node& root) {
  return root.is_null() && root.mark.pos >= 0 &&
         static_cast<std::size_t>(root.mark.pos) < text.size() && text[root.mark.pos] == ',';
}

}  // namespace

document parse_document(std::string_view text) {
  document doc;
  std::istringstream in{std::string(text)};
  YAML::Parser parser(in);
  builder first(doc.problems);
  if (!parser.HandleNextDocument(first) || !first.root) {
    doc.root = std::make_shared<node>();
    return doc;
  }
  doc.root = first.root;
  if (stray_comma(text, *doc.root)) {
    doc.problems.push_back({doc.root->mark, "unexpected ',' outside a flow collection"});
    return doc;
  }
  // Never more than one look past the first document: yaml-cpp may not advance.
  std::vector<problem> ignored;
  builder second(ignored);
  if (parser.HandleNextDocument(second) && second.root) {
    if (stray_comma(text, *second.root)) {
      doc.problems.push_back({second.root->mark, "unexpected ',' outside a flow collection"});
    } else {
      doc.problems.push_back({second.start, "only one YAML document is allowed"});
    }
  }
  return doc;
}

}  // namespace iotgw::config::yaml
