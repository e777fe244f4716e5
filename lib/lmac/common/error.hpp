// Errors: every failure lmac reports is an lmac::Error whose message is one line
// ("what went wrong"); the CLI prefixes it with the file it concerns.
#pragma once

#include <stdexcept>
#include <string>

namespace lmac {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Input data that is malformed (truncated, corrupted, inconsistent).
class FormatError : public Error {
 public:
  using Error::Error;
};

[[noreturn]] inline void fail(const std::string& message) { throw Error(message); }
[[noreturn]] inline void fail_format(const std::string& message) { throw FormatError(message); }

}  // namespace lmac
