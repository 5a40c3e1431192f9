// What qatctl asks of the terminal it writes to.
#pragma once

#include <cstddef>

namespace qatlab {

// The width to fit output on `fd` into: the terminal's (TIOCGWINSZ) when `fd`
// is one, else $COLUMNS when it is a positive number, else 80. Cheap: asked
// again before each redraw, so a resized terminal is followed.
size_t TerminalColumns(int fd);

// True when `fd` is a terminal (output there is redrawn in place).
bool IsTerminal(int fd);

}  // namespace qatlab
