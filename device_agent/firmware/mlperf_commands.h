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

/* Replies with the error and returns 0 unless a model is loaded and its
 * input is ready (model_runner_prepare_input). An input of the wrong length
 * is an error, unless `lenient` (MLPerf's `infer`): then, as the reference,
 * a non-error line notes it and the inference runs on the buffer as is. */
int mlperf_require_inference_ready(int lenient);

/* Runs one inference into *cycles; replies with the error and returns 0 on
 * failure. Shared with the qm- commands. */
int mlperf_infer_once(uint64_t* cycles);

/* Prints "m-results-[…]" for the last inference's output: class
 * probabilities (softmax of the dequantized logits), or for an autoencoder
 * on float32 input its reconstruction error (docs/protocol.md, "Scores"). */
void mlperf_print_results(void);

/* Prints "m-qm-logits-[…]": the last inference's int8 logits. */
void mlperf_print_logits(void);

/* The model id profile% reports; set by qm-model-id. At most 15 characters.
 * Also sets the input convention the id implies: ic01*, vww01* → uint8,
 * ad01* → float32, anything else → int8. */
void mlperf_set_model_id(const char* id);
const char* mlperf_model_id(void);

/* Forgets a `db load` in progress (the input was replaced by qm-input). */
void mlperf_cancel_db_load(void);

#endif /* QATLAB_FW_MLPERF_COMMANDS_H_ */
