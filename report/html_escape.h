// Text made safe to place in HTML and inline SVG, as element content or in a
// double-quoted attribute value.
#pragma once

#include <string>
#include <string_view>

namespace qatlab {

// Replaces & < > " ' with character references; every other byte is kept.
std::string EscapeHtml(std::string_view text);

}  // namespace qatlab
