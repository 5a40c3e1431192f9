// A value that came from outside (a worker id, an error string a worker sent,
// a path, a job id in a request) made safe to write into a log line or an
// error message: escaped, so no byte of it can end the line or forge
// another, and bounded, so a 100 kB value cannot flood the log or overflow
// gRPC's metadata (an error message travels in a trailer).
//
// The one helper for this: every log line and every error message that
// echoes such a value goes through PrintableValue.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace qatlab {

// What PrintableValue keeps of a value by default.
inline constexpr size_t kPrintableValueLimit = 256;

// `value` with backslash, control bytes (newline, carriage return, tab, ESC,
// DEL, ...) and every byte >= 0x80 escaped (\\, \n, \r, \t, \xNN), cut to
// `limit` characters of escaped text and then marked
// "…(N bytes)" with N the original size. Printable ASCII is kept as is, so
// ordinary ids and paths read unchanged.
inline std::string PrintableValue(std::string_view value, size_t limit = kPrintableValueLimit) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(value.size() < limit ? value.size() : limit);
  size_t used = 0;
  for (; used < value.size(); ++used) {
    const auto byte = static_cast<unsigned char>(value[used]);
    char escaped[4] = {'\\', 0, 0, 0};
    size_t length = 2;
    switch (byte) {
      case '\\': escaped[1] = '\\'; break;
      case '\n': escaped[1] = 'n'; break;
      case '\r': escaped[1] = 'r'; break;
      case '\t': escaped[1] = 't'; break;
      default:
        if (byte >= 0x20 && byte < 0x7f) {
          escaped[0] = static_cast<char>(byte);
          length = 1;
        } else {
          escaped[1] = 'x';
          escaped[2] = kHex[byte >> 4];
          escaped[3] = kHex[byte & 0xf];
          length = 4;
        }
    }
    if (out.size() + length > limit) break;
    out.append(escaped, length);
  }
  if (used < value.size()) out += "\u2026(" + std::to_string(value.size()) + " bytes)";
  return out;
}

}  // namespace qatlab
