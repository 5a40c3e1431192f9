/* The MLPerf Tiny device-under-test commands (docs/protocol.md, "MLPerf Tiny
 * commands"): name, profile, timestamp, help, db, infer, results. */
#ifndef QATLAB_FW_MLPERF_COMMANDS_H_
#define QATLAB_FW_MLPERF_COMMANDS_H_

#include <stdint.h>

#include "command_text.h"

/* Prints the boot banner (without the final m-ready). */
void mlperf_print_banner(void);

/* Handles an MLPerf command; returns 0, having replied nothing, for anything
 * else (the caller answers "Unknown command"). Does not print m-ready. */
int mlperf_handle_command(const command_tokens* tokens);

/* Replies with the error and returns 0 unless a model is loaded and the
 * input buffer holds exactly its input; shared with the qm- commands. */
int mlperf_require_inference_ready(void);

/* Runs one inference into *cycles; replies with the error and returns 0 on
 * failure. Shared with the qm- commands. */
int mlperf_infer_once(uint64_t* cycles);

/* Prints "m-results-[…]" for the last inference's output. */
void mlperf_print_results(void);

/* The model id profile% reports; set by qm-model-id. At most 15 characters. */
void mlperf_set_model_id(const char* id);
const char* mlperf_model_id(void);

/* Forgets a `db load` in progress (the input was replaced by qm-input). */
void mlperf_cancel_db_load(void);

#endif /* QATLAB_FW_MLPERF_COMMANDS_H_ */
