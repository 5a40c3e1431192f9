/* The firmware's main loop: collect a command up to '%', answer it, end the
 * answer with m-ready, repeat. Framing rules are in docs/protocol.md. */
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "command_text.h"
#include "embedded_model.h"
#include "mlperf_commands.h"
#include "model_runner.h"
#include "model_slot.h"
#include "qatlab_commands.h"
#include "reply.h"
#include "serial_link.h"

/* The MLPerf reference's command buffer size; the runner's longest command
 * ("db" + 62 hex digits) fits. */
#define COMMAND_CAPACITY 80u

static void answer(char* text, uint32_t length) {
  char original[COMMAND_CAPACITY + 1u];
  memcpy(original, text, length + 1u);
  if (length == 0) return; /* a lone '%': resync only */
  int printable = 1;
  for (uint32_t i = 0; i < length; ++i) {
    if (text[i] < 0x20 || text[i] > 0x7E) printable = 0;
  }
  command_tokens tokens;
  command_split(text, &tokens);
  int handled = 0;
  if (printable && tokens.count > 0) {
    handled = qatlab_is_command(&tokens) ? qatlab_handle_command(&tokens) : mlperf_handle_command(&tokens);
  }
  if (!handled) {
    reply_text("e-[Unknown command: ");
    reply_printable(original, length);
    reply_line("]");
  }
}

static void report_not_loaded(const char* where, qk_status status, uint32_t needed, char what) {
  reply_text("e-[model in ");
  reply_text(where);
  reply_text(" not loaded: ");
  reply_text(qk_status_name(status));
  if (needed != 0) {
    reply_text(", needs ");
    reply_unsigned(needed);
    reply_text(what == 'i' ? " bytes of input" : what == 'o' ? " bytes of output" : " bytes of arena");
  }
  reply_line("]");
}

/* An image built with a model in flash, or whose model slot holds one, has
 * it loaded, under its id, from the first reply on (the MLPerf runner asks
 * profile% first). A model that does not fit the image's buffers leaves the
 * board without one, as before, and a line before the banner says why. */
/* The model slot's model (model_slot.h) comes first: a host programmed it
 * into this board on purpose. */
static void load_model_from_flash(void) {
  uint32_t size = 0, needed = 0;
  char what = 0;
  const char* id = 0;
  const uint8_t* bytes = model_slot_model(&size, &id);
  if (bytes != 0) {
    qk_status status = model_runner_open_slot(bytes, size, &needed, &what);
    if (status == QK_OK) {
      mlperf_set_model_id(id);
      return;
    }
    report_not_loaded("slot", status, needed, what);
  }
  bytes = embedded_model_bytes(&size);
  if (bytes == 0) return;
  needed = 0;
  what = 0;
  qk_status status = model_runner_open_flash(bytes, size, &needed, &what);
  if (status == QK_OK) {
    mlperf_set_model_id(embedded_model_id());
    return;
  }
  report_not_loaded("flash", status, needed, what);
}

int main(void) {
  board_init();
  load_model_from_flash();
  mlperf_print_banner();
  reply_line("m-ready");

  char command[COMMAND_CAPACITY + 1u];
  uint32_t length = 0;
  uint32_t overflow = 0; /* characters beyond the buffer in this command */
  for (;;) {
    uint8_t byte;
    serial_read_byte(&byte, SERIAL_WAIT_FOREVER);
    if (byte == '%') {
      if (overflow) {
        reply_text("e-[Command buffer overflow: ");
        reply_unsigned((uint64_t)length + overflow);
        reply_text(" characters, the limit is ");
        reply_unsigned(COMMAND_CAPACITY);
        reply_line("]");
      } else {
        command[length] = '\0';
        answer(command, length);
      }
      reply_line("m-ready");
      length = 0;
      overflow = 0;
    } else if (byte == '\r' || byte == '\n') {
      /* Line ends from terminals and scripts are not part of a command. */
    } else if (length < COMMAND_CAPACITY) {
      command[length++] = (char)byte;
    } else {
      overflow++;
    }
  }
}
