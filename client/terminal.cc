#include "client/terminal.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace qatlab {

size_t TerminalColumns(int fd) {
  winsize size{};
  if (::ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  if (const char* columns = std::getenv("COLUMNS"); columns != nullptr && *columns != '\0') {
    char* end = nullptr;
    long value = std::strtol(columns, &end, 10);
    if (*end == '\0' && value > 0 && value < 100000) return static_cast<size_t>(value);
  }
  return 80;
}

bool IsTerminal(int fd) { return ::isatty(fd) == 1; }

void RedrawFrame(std::FILE* out, const std::vector<std::string>& lines, int* lines_drawn) {
  std::string frame;
  if (*lines_drawn > 0) frame += "\x1b[" + std::to_string(*lines_drawn) + "F";
  for (const auto& line : lines) frame += "\x1b[2K" + line + "\n";
  frame += "\x1b[J";
  std::fputs(frame.c_str(), out);
  std::fflush(out);
  *lines_drawn = static_cast<int>(lines.size());
}

}  // namespace qatlab
