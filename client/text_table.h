// Plain-text tables and the number formats qatctl prints in them. Columns are
// sized to their widest cell; numbers are right-aligned, text left-aligned.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qatlab {

class TextTable {
 public:
  enum class Align { kLeft, kRight };

  // REQUIRES: every row added later has as many cells as `headers`.
  void SetColumns(std::vector<std::string> headers, std::vector<Align> aligns);
  void AddRow(std::vector<std::string> cells);
  // Drops column `index` (e.g. a latency column nobody measured).
  void RemoveColumn(size_t index);
  bool empty() const { return rows_.empty(); }

  // Header line, then one line per row, each ending in '\n'; two spaces
  // between columns and no trailing blanks.
  std::string Render() const;
  // The same within `max_width` columns: drops the columns named in
  // `drop_order` (headers), in that order, until every line fits, and names the
  // dropped ones in a last line ("(not shown at 80 columns: RAM, MACS)").
  // Lines still too wide after that are cut (FitToWidth).
  std::string RenderWithin(size_t max_width, const std::vector<std::string>& drop_order) const;

 private:
  std::vector<std::string> headers_;
  std::vector<Align> aligns_;
  std::vector<std::vector<std::string>> rows_;
};

// Columns a string takes on a terminal: UTF-8 continuation bytes take none.
size_t DisplayWidth(const std::string& text);
// `line` cut to at most `width` columns, its last column "…" when cut.
std::string FitToWidth(const std::string& line, size_t width);

// 12.3 KB (1 KB = 1024 bytes); below 1 KB the exact count, "812 B".
std::string FormatKilobytes(int64_t bytes);
// 950, 12.4K, 1.23M, 4.56G: at most three significant digits after K.
std::string FormatCount(int64_t count);
// 97.15%
std::string FormatPercent(double percent);
// A signed difference in percentage points: +0.10, -2.35.
std::string FormatPointsDelta(double points);
// 0.8 s, 12 s, 3m05s, 1h02m.
std::string FormatDuration(double seconds);
// 842 us, 12.35 ms, 1.204 s.
std::string FormatMicroseconds(double microseconds);
// A clock rate: "25 MHz", "16.5 MHz"; "-" for 0.
std::string FormatClock(uint32_t hz);
// Local time "2026-11-26 13:50:01"; "-" for 0.
std::string FormatUnixMillis(int64_t unix_ms);

}  // namespace qatlab
