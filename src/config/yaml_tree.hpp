// A YAML document as the loader reads it, built from yaml-cpp's parser events
// rather than with YAML::Load/LoadAll: yaml-cpp 0.7's LoadAll never returns on
// a ',' outside a flow collection (each call yields one more empty document
// without consuming it), and its nodes may form cycles through aliases. This
// tree reads at most two documents and never holds a cycle.
#pragma once

#include <yaml-cpp/mark.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace iotgw::config::yaml {

struct node {
  enum class kind : std::uint8_t { null, scalar, sequence, map };

  kind type = kind::null;
  YAML::Mark mark;
  std::string tag;    // "?" plain scalar, "!" quoted, else the resolved tag; "" for null
  std::string value;  // scalars only
  std::vector<std::shared_ptr<const node>> items;  // sequences
  std::vector<std::pair<std::shared_ptr<const node>, std::shared_ptr<const node>>> pairs;  // maps

  bool is_null() const noexcept { return type == kind::null; }
  bool is_scalar() const noexcept { return type == kind::scalar; }
  bool is_sequence() const noexcept { return type == kind::sequence; }
  bool is_map() const noexcept { return type == kind::map; }
};

struct problem {
  YAML::Mark mark;
  std::string message;
};

struct document {
  std::shared_ptr<const node> root;  // never null; a null node when there is no content
  std::vector<problem> problems;     // what yaml-cpp accepts and the loader does not
};

// Parses the first document of `text`. Problems: a second document, a ','
// outside a flow collection, an alias inside the node it refers to. Syntax
// errors throw YAML::ParserException as yaml-cpp does.
document parse_document(std::string_view text);

}  // namespace iotgw::config::yaml
