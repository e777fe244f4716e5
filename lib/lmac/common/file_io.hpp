// Whole-file I/O. Outputs are written to a temporary name beside the target and
// renamed into place, so a failure never leaves a partial file.
#pragma once

#include <string>

#include "lmac/common/bytes.hpp"

namespace lmac {

// Reads a whole file, or standard input when path is "-".
Bytes read_file(const std::string& path);

// What writing to a path does: create a file, replace one (a link's target, when it is
// a link), write into a device or pipe (/dev/null, a FIFO) that stays what it is, or
// into standard output ("-", /dev/stdout); a directory or a link to nothing takes no output.
enum class OutputKind { New, File, Device, Stdout, Directory, Dangling };
OutputKind output_kind(const std::string& path);

// Writes atomically (temporary file + rename), or to standard output when path is "-".
// Refuses to replace an existing file unless overwrite is set, and a directory; writes
// into a device or pipe in place (renaming over it would replace /dev/null itself), and
// into standard output at its offset when the path names it.
void write_file_atomic(const std::string& path, ByteSpan data, bool overwrite);

bool file_exists(const std::string& path);

}  // namespace lmac
