// Reading the files of /proc, /sys and /etc below a configurable root, so
// that tests run the collectors over fixture trees (tests/fixtures/hostagent).
//
// Reads use one reusable buffer and plain POSIX calls: the agent reads about
// a thousand small files per collection and must stay under 1 % of a core.
//
// Thread-safety: not thread-safe (the buffer); one ProcFs per collector.
#ifndef LOUPE_HOSTAGENT_PROC_FS_H_
#define LOUPE_HOSTAGENT_PROC_FS_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace loupe::hostagent {

class ProcFs {
 public:
  // root: the directory that stands for "/" ("" or "/" for the real one).
  explicit ProcFs(std::string root);

  // The absolute path of `path` (which starts with '/') under the root.
  std::string Path(std::string_view path) const;

  // Reads at most `limit` bytes of the file at `path` (under the root).
  // Returns a view of the reused buffer, valid until the next call, or false
  // if the file cannot be opened or read.
  bool Read(std::string_view path, std::string_view* out, size_t limit = 4 << 20);

  // Calls fn(line) for each line of the file at `path` (without '\n'),
  // reading 64 KiB at a time, so that large tables (/proc/net/tcp of a busy
  // host) do not grow the buffer. A line longer than 64 KiB is cut. False if
  // the file cannot be opened or read.
  template <typename Fn>
  bool ForEachLine(std::string_view path, Fn&& fn);

  // Names in the directory at `path`, without "." and "..". False if it
  // cannot be opened (e.g. EACCES for another user's /proc/PID/fd).
  bool List(std::string_view path, std::vector<std::string>* names) const;
  // Number of entries of a directory, -1 if it cannot be opened.
  int64_t CountEntries(std::string_view path) const;
  bool IsDirectory(std::string_view path) const;
  bool Exists(std::string_view path) const;

 private:
  int OpenForRead(std::string_view path) const;
  static long ReadSome(int fd, char* dst, size_t n);  // retries EINTR; -1 on error
  static void CloseFd(int fd);

  std::string root_;
  std::string buffer_;
};

template <typename Fn>
bool ProcFs::ForEachLine(std::string_view path, Fn&& fn) {
  constexpr size_t kChunk = 64 * 1024;
  const int fd = OpenForRead(path);
  if (fd < 0) return false;
  if (buffer_.size() < kChunk) buffer_.resize(kChunk);
  size_t used = 0;  // bytes of an unfinished line at the start of buffer_
  bool ok = true;
  for (;;) {
    const long n = ReadSome(fd, buffer_.data() + used, kChunk - used);
    if (n < 0) {
      ok = false;
      break;
    }
    const size_t end = used + static_cast<size_t>(n);
    std::string_view data(buffer_.data(), end);
    size_t start = 0;
    for (size_t nl; (nl = data.find('\n', start)) != std::string_view::npos; start = nl + 1) {
      fn(data.substr(start, nl - start));
    }
    if (n == 0) {
      if (start < end) fn(data.substr(start));
      break;
    }
    if (start == 0 && end == kChunk) {  // one line fills the chunk: cut it
      fn(data);
      start = end;
    }
    used = end - start;
    std::memmove(buffer_.data(), buffer_.data() + start, used);
  }
  CloseFd(fd);
  return ok;
}

// Parsing helpers shared by the collectors.
// Splits on runs of spaces and tabs.
void SplitFields(std::string_view line, std::vector<std::string_view>* fields);
// The next line of *text (without '\n'), advancing *text; false at the end.
bool NextLine(std::string_view* text, std::string_view* line);
// Decimal unsigned integer; false if s is empty or not all digits.
bool ParseU64(std::string_view s, uint64_t* v);
bool ParseDouble(std::string_view s, double* v);

}  // namespace loupe::hostagent

#endif  // LOUPE_HOSTAGENT_PROC_FS_H_
