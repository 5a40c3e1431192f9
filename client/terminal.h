// What qatctl asks of the terminal it writes to.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

namespace qatlab {

// The width to fit output on `fd` into: the terminal's (TIOCGWINSZ) when `fd`
// is one, else $COLUMNS when it is a positive number, else 80. Cheap: asked
// again before each redraw, so a resized terminal is followed.
size_t TerminalColumns(int fd);

// True when `fd` is a terminal (output there is redrawn in place).
bool IsTerminal(int fd);

// Redraws a frame in place on a terminal: moves up to the start of the
// previous frame (`*lines_drawn` lines), overwrites it line by line, clears
// whatever a longer previous frame left below, and records the new frame's
// line count. Every line must fit the width, so none wraps and the count of
// lines to go back is exact.
void RedrawFrame(std::FILE* out, const std::vector<std::string>& lines, int* lines_drawn);

}  // namespace qatlab
