/* The firmware and protocol versions the board reports (qm-info, profile).
 * Bump QATLAB_FW_PROTOCOL_VERSION when an existing reply changes
 * (docs/protocol.md, "Versioning"). */
#ifndef QATLAB_FW_FIRMWARE_VERSION_H_
#define QATLAB_FW_FIRMWARE_VERSION_H_

#define QATLAB_FW_VERSION_TEXT "0.1.0"
#define QATLAB_FW_PROTOCOL_VERSION 1u

#endif /* QATLAB_FW_FIRMWARE_VERSION_H_ */
