#include "client/text_table.h"

#include <algorithm>
#include <cmath>
#include <ctime>

#include <fmt/format.h>

namespace qatlab {

void TextTable::SetColumns(std::vector<std::string> headers, std::vector<Align> aligns) {
  headers_ = std::move(headers);
  aligns_ = std::move(aligns);
  aligns_.resize(headers_.size(), Align::kLeft);
}

void TextTable::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

void TextTable::RemoveColumn(size_t index) {
  if (index >= headers_.size()) return;
  headers_.erase(headers_.begin() + static_cast<std::ptrdiff_t>(index));
  aligns_.erase(aligns_.begin() + static_cast<std::ptrdiff_t>(index));
  for (auto& row : rows_) row.erase(row.begin() + static_cast<std::ptrdiff_t>(index));
}

size_t DisplayWidth(const std::string& text) {
  size_t width = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++width;
  }
  return width;
}

std::string FitToWidth(const std::string& line, size_t width) {
  if (DisplayWidth(line) <= width) return line;
  if (width == 0) return "";
  // Keep width - 1 columns, then the ellipsis.
  std::string out;
  size_t columns = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(line[i]);
    if ((c & 0xC0) != 0x80) {
      if (columns == width - 1) break;
      ++columns;
    }
    out += line[i];
  }
  return out + "…";
}

std::string TextTable::RenderWithin(size_t max_width, const std::vector<std::string>& drop_order) const {
  auto fits = [max_width](const std::string& text) {
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      if (DisplayWidth(text.substr(start, end - start)) > max_width) return false;
      start = end + 1;
    }
    return true;
  };
  TextTable narrowed = *this;
  std::vector<std::string> dropped;
  std::string text = narrowed.Render();
  for (size_t k = 0; k < drop_order.size() && !fits(text); ++k) {
    auto found = std::find(narrowed.headers_.begin(), narrowed.headers_.end(), drop_order[k]);
    if (found == narrowed.headers_.end()) continue;
    dropped.push_back(drop_order[k]);
    narrowed.RemoveColumn(static_cast<size_t>(found - narrowed.headers_.begin()));
    text = narrowed.Render();
  }
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    out += FitToWidth(text.substr(start, end - start), max_width) + "\n";
    start = end + 1;
  }
  if (!dropped.empty()) {
    std::string note;
    for (const auto& name : dropped) note += (note.empty() ? "" : ", ") + name;
    out += FitToWidth(fmt::format("(not shown at {} columns: {})", max_width, note), max_width) + "\n";
  }
  return out;
}

std::string TextTable::Render() const {
  std::vector<size_t> widths(headers_.size(), 0);
  for (size_t c = 0; c < headers_.size(); ++c) widths[c] = DisplayWidth(headers_[c]);
  for (const auto& row : rows_) {
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], DisplayWidth(row[c]));
  }
  std::string out;
  auto render_line = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t c = 0; c < cells.size(); ++c) {
      size_t pad = widths[c] - DisplayWidth(cells[c]);
      if (c > 0) line += "  ";
      if (aligns_[c] == Align::kRight) {
        line.append(pad, ' ');
        line += cells[c];
      } else {
        line += cells[c];
        line.append(pad, ' ');
      }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  };
  render_line(headers_);
  for (const auto& row : rows_) render_line(row);
  return out;
}

std::string FormatKilobytes(int64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  return fmt::format("{:.1f} KB", static_cast<double>(bytes) / 1024.0);
}

std::string FormatCount(int64_t count) {
  double value = static_cast<double>(count);
  const char* suffixes[] = {"", "K", "M", "G", "T"};
  int index = 0;
  while (std::fabs(value) >= 1000.0 && index < 4) {
    value /= 1000.0;
    ++index;
  }
  if (index == 0) return fmt::format("{}", count);
  // Three significant digits: 1.23M, 12.3M, 123M.
  int decimals = std::fabs(value) < 10 ? 2 : std::fabs(value) < 100 ? 1 : 0;
  return fmt::format("{:.{}f}{}", value, decimals, suffixes[index]);
}

std::string FormatPercent(double percent) { return fmt::format("{:.2f}%", percent); }

std::string FormatPointsDelta(double points) {
  // Avoid "-0.00" for differences that round to nothing.
  if (std::fabs(points) < 0.005) return "+0.00";
  return fmt::format("{:+.2f}", points);
}

std::string FormatDuration(double seconds) {
  if (seconds < 0) seconds = 0;
  if (seconds < 10) return fmt::format("{:.1f} s", seconds);
  auto total = static_cast<int64_t>(std::llround(seconds));
  if (total < 60) return fmt::format("{} s", total);
  if (total < 3600) return fmt::format("{}m{:02}s", total / 60, total % 60);
  return fmt::format("{}h{:02}m", total / 3600, (total % 3600) / 60);
}

std::string FormatMicroseconds(double microseconds) {
  if (microseconds < 1000) return fmt::format("{:.0f} us", microseconds);
  if (microseconds < 1e6) return fmt::format("{:.2f} ms", microseconds / 1000.0);
  return fmt::format("{:.3f} s", microseconds / 1e6);
}

std::string FormatClock(uint32_t hz) {
  if (hz == 0) return "-";
  return hz % 1000000 == 0 ? fmt::format("{} MHz", hz / 1000000) : fmt::format("{:.1f} MHz", hz / 1e6);
}

std::string FormatUnixMillis(int64_t unix_ms) {
  if (unix_ms <= 0) return "-";
  std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm local{};
  localtime_r(&seconds, &local);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S", &local);
  return text;
}

}  // namespace qatlab
