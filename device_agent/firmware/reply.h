/* Writing reply lines to the host. A line is built from pieces and ended by
 * reply_end_line(), which sends "\r\n"; output is buffered per line and sent
 * with blocking writes, so a reply is complete when these calls return. */
#ifndef QATLAB_FW_REPLY_H_
#define QATLAB_FW_REPLY_H_

#include <stdint.h>

void reply_text(const char* text);
/* Non-printable bytes are shown as '?', so a reply stays one line. */
void reply_printable(const char* text, uint32_t length);
void reply_char(char character);
void reply_unsigned(uint64_t value);
void reply_signed(int32_t value);
void reply_hex32(uint32_t value); /* 8 lower-case digits */
void reply_hex8(uint8_t value);   /* 2 lower-case digits */
void reply_end_line(void);

/* A whole line: text then "\r\n". */
void reply_line(const char* text);

#endif /* QATLAB_FW_REPLY_H_ */
