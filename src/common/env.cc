// POSIX Env and FaultInjectionEnv (env.h).
#include "common/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace loupe {
namespace {

Status PosixError(std::string_view context, int err) {
  std::string msg = std::string(context) + ": " + std::strerror(err);
  switch (err) {
    case ENOENT:
      return Status::NotFound(msg);
    case ENOSPC:
    case EDQUOT:
      return Status::ResourceExhausted(msg);
    default:
      return Status::IoError(msg);
  }
}

class PosixSequentialFile final : public SequentialFile {
 public:
  PosixSequentialFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixSequentialFile() override { ::close(fd_); }

  Status Read(size_t n, std::string_view* result, char* scratch) override {
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::read(fd_, scratch + got, n - got);
      if (r < 0) {
        if (errno == EINTR) continue;
        return PosixError("read " + path_, errno);
      }
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    *result = std::string_view(scratch, got);
    return Status::OK();
  }

  Status Skip(uint64_t n) override {
    if (::lseek(fd_, static_cast<off_t>(n), SEEK_CUR) < 0)
      return PosixError("seek " + path_, errno);
    return Status::OK();
  }

 private:
  const std::string path_;
  const int fd_;
};

// Read-only mapping of a whole file. Segment files are immutable once
// written, so a mapping taken at open stays valid.
class MmapRandomAccessFile final : public RandomAccessFile {
 public:
  MmapRandomAccessFile(const char* base, uint64_t size) : base_(base), size_(size) {}
  ~MmapRandomAccessFile() override {
    if (size_ > 0) ::munmap(const_cast<char*>(base_), size_);
  }
  // A read-only shared mapping of a file: its pages are clean, so dropping
  // them loses nothing.
  void DropResidentPages() const override {
    if (size_ > 0) ::madvise(const_cast<char*>(base_), size_, MADV_DONTNEED);
  }

  Status Read(uint64_t offset, size_t n, std::string_view* result, char*) const override {
    if (offset >= size_) {
      *result = {};
    } else {
      *result = std::string_view(base_ + offset, std::min<uint64_t>(n, size_ - offset));
    }
    return Status::OK();
  }
  uint64_t Size() const override { return size_; }
  const char* MappedData() const override { return base_; }

 private:
  const char* const base_;
  const uint64_t size_;
};

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status Append(std::string_view data) override {
    // Small appends are buffered; big ones go straight to the kernel.
    if (buf_.size() + data.size() <= kBufferSize) {
      buf_.append(data);
      return Status::OK();
    }
    LOUPE_RETURN_IF_ERROR(FlushBuffer());
    if (data.size() <= kBufferSize) {
      buf_.append(data);
      return Status::OK();
    }
    return WriteRaw(data);
  }

  Status Flush() override { return FlushBuffer(); }

  Status Sync() override {
    LOUPE_RETURN_IF_ERROR(FlushBuffer());
    if (::fdatasync(fd_) != 0) return PosixError("fdatasync " + path_, errno);
    return Status::OK();
  }

  Status Close() override {
    Status s = FlushBuffer();
    if (fd_ >= 0 && ::close(fd_) != 0 && s.ok()) s = PosixError("close " + path_, errno);
    fd_ = -1;
    return s;
  }

 private:
  static constexpr size_t kBufferSize = 64 * 1024;

  Status FlushBuffer() {
    if (buf_.empty()) return Status::OK();
    Status s = WriteRaw(buf_);
    buf_.clear();  // on error the caller abandons the file; do not retry stale bytes
    return s;
  }

  Status WriteRaw(std::string_view data) {
    if (fd_ < 0) return Status::IoError("write " + path_ + ": file is closed");
    while (!data.empty()) {
      ssize_t w = ::write(fd_, data.data(), data.size());
      if (w < 0) {
        if (errno == EINTR) continue;
        return PosixError("write " + path_, errno);
      }
      data.remove_prefix(static_cast<size_t>(w));
    }
    return Status::OK();
  }

  const std::string path_;
  int fd_;
  std::string buf_;
};

class PosixFileLock final : public FileLock {
 public:
  PosixFileLock(std::string path, int fd) : path(std::move(path)), fd(fd) {}
  std::string path;
  int fd;
};

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PosixError("open " + path, errno);
    return std::unique_ptr<SequentialFile>(new PosixSequentialFile(path, fd));
  }

  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PosixError("open " + path, errno);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      Status s = PosixError("stat " + path, errno);
      ::close(fd);
      return s;
    }
    auto size = static_cast<uint64_t>(st.st_size);
    const char* base = nullptr;
    if (size > 0) {
      void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
      if (p == MAP_FAILED) {
        Status s = PosixError("mmap " + path, errno);
        ::close(fd);
        return s;
      }
      base = static_cast<const char*>(p);
    }
    ::close(fd);  // the mapping stays valid
    return std::unique_ptr<RandomAccessFile>(new MmapRandomAccessFile(base, size));
  }

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return PosixError("create " + path, errno);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd));
  }

  bool FileExists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }

  Result<std::vector<std::string>> GetChildren(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return PosixError("opendir " + dir, errno);
    std::vector<std::string> out;
    while (struct dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      if (name != "." && name != "..") out.emplace_back(name);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
  }

  Status DeleteFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return PosixError("unlink " + path, errno);
    return Status::OK();
  }

  Status CreateDir(const std::string& dir) override {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
      return PosixError("mkdir " + dir, errno);
    return Status::OK();
  }

  Result<uint64_t> GetFileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return PosixError("stat " + path, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  Status RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return PosixError("rename " + from + " to " + to, errno);
    }
    return Status::OK();
  }

  Status SyncDir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return PosixError("open dir " + dir, errno);
    Status s;
    if (::fsync(fd) != 0) s = PosixError("fsync dir " + dir, errno);
    ::close(fd);
    return s;
  }

  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return PosixError("open lock " + path, errno);
    // flock locks belong to the open file description, so a second open in
    // the same process conflicts too (fcntl locks would not).
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) return Status::Unavailable("lock " + path + ": held by another user");
      return PosixError("lock " + path, err);
    }
    return std::unique_ptr<FileLock>(new PosixFileLock(path, fd));
  }

  Status UnlockFile(std::unique_ptr<FileLock> lock) override {
    auto* l = static_cast<PosixFileLock*>(lock.get());
    Status s;
    if (::flock(l->fd, LOCK_UN) != 0) s = PosixError("unlock " + l->path, errno);
    ::close(l->fd);
    return s;
  }
};

}  // namespace

Env* Env::Default() {
  static PosixEnv* env = new PosixEnv();
  return env;
}

Status WriteFileAtomically(Env* env, const std::string& path, std::string_view data) {
  const std::string tmp = path + ".tmp";
  auto file = env->NewWritableFile(tmp);
  if (!file.ok()) return file.status();
  Status s = (*file)->Append(data);
  if (s.ok()) s = (*file)->Sync();
  Status c = (*file)->Close();
  if (s.ok()) s = c;
  if (s.ok()) s = env->RenameFile(tmp, path);
  if (!s.ok()) {
    env->DeleteFile(tmp);
    return s;
  }
  auto slash = path.rfind('/');
  return env->SyncDir(slash == std::string::npos ? "." : path.substr(0, slash));
}

Result<std::string> ReadFileToString(Env* env, const std::string& path) {
  auto file = env->NewSequentialFile(path);
  if (!file.ok()) return file.status();
  // Read straight into a buffer of the file's size: growing a string 64 KiB
  // at a time copied each WAL segment about twice more (a quarter of a log
  // replay's time). The file may still grow or shrink meanwhile.
  auto size = env->GetFileSize(path);
  std::string out(size.ok() ? static_cast<size_t>(*size) + 1 : 64 * 1024, '\0');
  size_t used = 0;
  for (;;) {
    if (used == out.size()) out.resize(out.size() * 2);
    std::string_view chunk;
    char* dst = out.data() + used;
    LOUPE_RETURN_IF_ERROR((*file)->Read(out.size() - used, &chunk, dst));
    if (chunk.empty()) break;
    if (chunk.data() != dst) std::memmove(dst, chunk.data(), chunk.size());
    used += chunk.size();
  }
  out.resize(used);
  return out;
}

// ---- FaultInjectionEnv ----

class FaultInjectionEnv::File final : public WritableFile {
 public:
  File(FaultInjectionEnv* env, std::string path, std::unique_ptr<WritableFile> base,
       uint64_t generation)
      : env_(env), path_(std::move(path)), base_(std::move(base)), generation_(generation) {}

  Status Append(std::string_view data) override {
    LOUPE_RETURN_IF_ERROR(CheckAlive());
    Status fault;
    size_t n = env_->AdmitWrite(data.size(), &fault);
    if (n > 0) {
      Status s = base_->Append(data.substr(0, n));
      if (!s.ok()) return s;
      std::lock_guard<std::mutex> lock(env_->mu_);
      env_->files_[path_].size += n;
    }
    return fault;
  }

  Status Flush() override {
    LOUPE_RETURN_IF_ERROR(CheckAlive());
    return base_->Flush();
  }

  Status Sync() override {
    LOUPE_RETURN_IF_ERROR(CheckAlive());
    {
      std::lock_guard<std::mutex> lock(env_->mu_);
      if (env_->sync_error_) {
        ++env_->faults_;
        return Status::IoError("fdatasync " + path_ + ": Input/output error (injected)");
      }
    }
    LOUPE_RETURN_IF_ERROR(base_->Sync());
    std::lock_guard<std::mutex> lock(env_->mu_);
    FileState& st = env_->files_[path_];
    st.synced_size = st.size;
    ++env_->syncs_;
    return Status::OK();
  }

  Status Close() override { return base_->Close(); }

 private:
  Status CheckAlive() {
    std::lock_guard<std::mutex> lock(env_->mu_);
    auto it = env_->files_.find(path_);
    if (it == env_->files_.end() || it->second.generation != generation_) {
      return Status::IoError("write " + path_ + ": file lost in simulated crash");
    }
    return Status::OK();
  }

  FaultInjectionEnv* const env_;
  const std::string path_;
  std::unique_ptr<WritableFile> base_;
  const uint64_t generation_;
};

void FaultInjectionEnv::SetWriteBudget(int64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  write_budget_ = bytes;
}

void FaultInjectionEnv::SetShortWrites(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  short_writes_ = on;
}

void FaultInjectionEnv::SetSyncError(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  sync_error_ = on;
}

uint64_t FaultInjectionEnv::injected_faults() const {
  std::lock_guard<std::mutex> lock(mu_);
  return faults_;
}

uint64_t FaultInjectionEnv::syncs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return syncs_;
}

size_t FaultInjectionEnv::AdmitWrite(size_t n, Status* fault) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t allowed = n;
  if (short_writes_ && n > 0) {
    allowed = std::max<size_t>(1, n / 2);
    *fault = Status::IoError("write: interrupted (injected short write)");
  }
  if (write_budget_ >= 0 && allowed > static_cast<uint64_t>(write_budget_)) {
    allowed = static_cast<size_t>(write_budget_);
    *fault = Status::ResourceExhausted("write: No space left on device (injected)");
  }
  if (write_budget_ >= 0) write_budget_ -= static_cast<int64_t>(allowed);
  if (!fault->ok()) ++faults_;
  return allowed;
}

Status FaultInjectionEnv::DropUnsyncedData() {
  std::map<std::string, FileState> files;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [path, st] : files_) ++st.generation;
    files = files_;
  }
  for (const auto& [path, st] : files) {
    if (!base_->FileExists(path)) continue;
    auto content = ReadFileToString(base_, path);
    if (!content.ok()) return content.status();
    if (content->size() <= st.synced_size) continue;
    auto f = base_->NewWritableFile(path);
    if (!f.ok()) return f.status();
    Status s = (*f)->Append(std::string_view(*content).substr(0, st.synced_size));
    if (s.ok()) s = (*f)->Sync();
    Status c = (*f)->Close();
    if (!s.ok()) return s;
    if (!c.ok()) return c;
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [path, st] : files_) st.size = st.synced_size;
  return Status::OK();
}

Result<std::unique_ptr<SequentialFile>> FaultInjectionEnv::NewSequentialFile(
    const std::string& path) {
  return base_->NewSequentialFile(path);
}

Result<std::unique_ptr<RandomAccessFile>> FaultInjectionEnv::NewRandomAccessFile(
    const std::string& path) {
  return base_->NewRandomAccessFile(path);
}

Result<std::unique_ptr<WritableFile>> FaultInjectionEnv::NewWritableFile(const std::string& path) {
  auto base = base_->NewWritableFile(path);
  if (!base.ok()) return base.status();
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(mu_);
    FileState& st = files_[path];
    st.size = 0;
    st.synced_size = 0;
    generation = st.generation;
  }
  return std::unique_ptr<WritableFile>(new File(this, path, std::move(*base), generation));
}

bool FaultInjectionEnv::FileExists(const std::string& path) { return base_->FileExists(path); }

Result<std::vector<std::string>> FaultInjectionEnv::GetChildren(const std::string& dir) {
  return base_->GetChildren(dir);
}

Status FaultInjectionEnv::DeleteFile(const std::string& path) {
  LOUPE_RETURN_IF_ERROR(base_->DeleteFile(path));
  std::lock_guard<std::mutex> lock(mu_);
  files_.erase(path);
  return Status::OK();
}

Status FaultInjectionEnv::CreateDir(const std::string& dir) { return base_->CreateDir(dir); }

Result<uint64_t> FaultInjectionEnv::GetFileSize(const std::string& path) {
  return base_->GetFileSize(path);
}

Status FaultInjectionEnv::RenameFile(const std::string& from, const std::string& to) {
  LOUPE_RETURN_IF_ERROR(base_->RenameFile(from, to));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(from);
  if (it != files_.end()) {
    FileState st = it->second;
    files_.erase(it);
    files_[to] = st;
  } else {
    files_.erase(to);
  }
  return Status::OK();
}

Status FaultInjectionEnv::SyncDir(const std::string& dir) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (sync_error_) {
      ++faults_;
      return Status::IoError("fsync dir " + dir + ": Input/output error (injected)");
    }
  }
  return base_->SyncDir(dir);
}

Result<std::unique_ptr<FileLock>> FaultInjectionEnv::LockFile(const std::string& path) {
  return base_->LockFile(path);
}

Status FaultInjectionEnv::UnlockFile(std::unique_ptr<FileLock> lock) {
  return base_->UnlockFile(std::move(lock));
}

}  // namespace loupe
