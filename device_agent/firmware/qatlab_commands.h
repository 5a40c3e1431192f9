/* qatlab's own commands, all prefixed "qm-" (docs/protocol.md, "qatlab
 * commands"): board information, binary model upload, binary input, the raw
 * throughput sink, outputs, per-layer cycles and cycle statistics. */
#ifndef QATLAB_FW_QATLAB_COMMANDS_H_
#define QATLAB_FW_QATLAB_COMMANDS_H_

#include <stdint.h>

#include "command_text.h"

/* 1 when tokens[0] starts with "qm-". */
int qatlab_is_command(const command_tokens* tokens);

/* Handles a qm- command, consuming its binary payload from the serial link
 * where it has one; returns 0, having replied nothing, for an unknown one
 * (the caller answers "Unknown command"). Does not print m-ready. */
int qatlab_handle_command(const command_tokens* tokens);

#endif /* QATLAB_FW_QATLAB_COMMANDS_H_ */
