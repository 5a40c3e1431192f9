// Errors cross module boundaries as values. A Status is OK or a code plus a
// message that names what is wrong ("layer 3 (conv2d): kernel 5 does not fit
// input 2x2"). The gRPC layer maps codes to gRPC status codes in one place.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace qatlab {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kCorruption,
  kIOError,
  kUnavailable,
  kCancelled,
  kResourceExhausted,
  kUnauthenticated,
  kPermissionDenied,
  kInternal,
};

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status FailedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
  static Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status IOError(std::string m) { return {StatusCode::kIOError, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status Cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
  static Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
  static Status Unauthenticated(std::string m) { return {StatusCode::kUnauthenticated, std::move(m)}; }
  static Status PermissionDenied(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "invalid argument: <message>", or "OK".
  std::string ToString() const;

  // Returns a copy whose message is "<context>: <message>".
  Status WithContext(const std::string& context) const {
    if (ok()) return *this;
    return Status(code_, context + ": " + message_);
  }

 private:
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline const char* StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kInvalidArgument: return "invalid argument";
    case StatusCode::kNotFound: return "not found";
    case StatusCode::kAlreadyExists: return "already exists";
    case StatusCode::kFailedPrecondition: return "failed precondition";
    case StatusCode::kCorruption: return "corruption";
    case StatusCode::kIOError: return "I/O error";
    case StatusCode::kUnavailable: return "unavailable";
    case StatusCode::kCancelled: return "cancelled";
    case StatusCode::kResourceExhausted: return "resource exhausted";
    case StatusCode::kUnauthenticated: return "unauthenticated";
    case StatusCode::kPermissionDenied: return "permission denied";
    case StatusCode::kInternal: return "internal";
  }
  return "unknown";
}

inline std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(StatusCodeName(code_)) + ": " + message_;
}

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : status_(std::move(status)) { assert(!status_.ok()); }  // NOLINT
  StatusOr(T value) : value_(std::move(value)) {}                                  // NOLINT

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  // REQUIRES: ok()
  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace qatlab

#define QATLAB_RETURN_IF_ERROR(expr)   \
  do {                                 \
    ::qatlab::Status _status = (expr); \
    if (!_status.ok()) return _status; \
  } while (0)

// `lhs = value of expr`, or returns expr's Status from the calling function:
//   QATLAB_ASSIGN_OR_RETURN(auto model, LoadModel(path));
//   QATLAB_ASSIGN_OR_RETURN(shapes[i], InferShape(layer));
// expr is a StatusOr<T>; the calling function returns Status or StatusOr<U>.
// The expression may contain commas; lhs may not (alias such a type first).
#define QATLAB_ASSIGN_OR_RETURN(lhs, ...) \
  QATLAB_ASSIGN_OR_RETURN_IMPL(QATLAB_STATUS_CONCAT(_qatlab_status_or_, __LINE__), lhs, (__VA_ARGS__))
#define QATLAB_ASSIGN_OR_RETURN_IMPL(temporary, lhs, expr) \
  auto temporary = expr;                                   \
  if (!temporary.ok()) return temporary.status();          \
  lhs = std::move(temporary).value()
#define QATLAB_STATUS_CONCAT(a, b) QATLAB_STATUS_CONCAT_INNER(a, b)
#define QATLAB_STATUS_CONCAT_INNER(a, b) a##b
