#include "hostagent/proc_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <utility>

namespace loupe::hostagent {

ProcFs::ProcFs(std::string root) : root_(std::move(root)) {
  while (!root_.empty() && root_.back() == '/') root_.pop_back();
}

std::string ProcFs::Path(std::string_view path) const {
  std::string p = root_;
  p.append(path);
  return p;
}

int ProcFs::OpenForRead(std::string_view path) const {
  return ::open(Path(path).c_str(), O_RDONLY | O_CLOEXEC);
}

long ProcFs::ReadSome(int fd, char* dst, size_t n) {
  for (;;) {
    const ssize_t r = ::read(fd, dst, n);
    if (r >= 0 || errno != EINTR) return static_cast<long>(r);
  }
}

void ProcFs::CloseFd(int fd) { ::close(fd); }

bool ProcFs::Read(std::string_view path, std::string_view* out, size_t limit) {
  const int fd = OpenForRead(path);
  if (fd < 0) return false;
  // /proc files report size 0, so read until EOF into a buffer kept between
  // calls (it settles at the size of the largest file, e.g. /proc/net/tcp).
  if (buffer_.size() < 64 * 1024) buffer_.resize(64 * 1024);
  size_t used = 0;
  bool ok = true;
  for (;;) {
    if (used == buffer_.size()) {
      if (used >= limit) break;
      buffer_.resize(std::min(buffer_.size() * 2, limit));
    }
    const ssize_t n = ::read(fd, buffer_.data() + used, buffer_.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      ok = false;
      break;
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  ::close(fd);
  *out = std::string_view(buffer_.data(), std::min(used, limit));
  return ok;
}

bool ProcFs::List(std::string_view path, std::vector<std::string>* names) const {
  names->clear();
  DIR* dir = ::opendir(Path(path).c_str());
  if (dir == nullptr) return false;
  while (const dirent* e = ::readdir(dir)) {
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    names->emplace_back(name);
  }
  ::closedir(dir);
  return true;
}

int64_t ProcFs::CountEntries(std::string_view path) const {
  DIR* dir = ::opendir(Path(path).c_str());
  if (dir == nullptr) return -1;
  int64_t n = 0;
  while (const dirent* e = ::readdir(dir)) {
    std::string_view name = e->d_name;
    if (name != "." && name != "..") ++n;
  }
  ::closedir(dir);
  return n;
}

bool ProcFs::IsDirectory(std::string_view path) const {
  struct stat st;
  return ::stat(Path(path).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool ProcFs::Exists(std::string_view path) const {
  struct stat st;
  return ::stat(Path(path).c_str(), &st) == 0;
}

void SplitFields(std::string_view line, std::vector<std::string_view>* fields) {
  fields->clear();
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) fields->push_back(line.substr(start, i - start));
  }
}

bool NextLine(std::string_view* text, std::string_view* line) {
  if (text->empty()) return false;
  const size_t nl = text->find('\n');
  *line = text->substr(0, nl);
  text->remove_prefix(nl == std::string_view::npos ? text->size() : nl + 1);
  return true;
}

bool ParseU64(std::string_view s, uint64_t* v) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool ParseDouble(std::string_view s, double* v) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace loupe::hostagent
