// Env: the seam through which all of Loupe's file I/O goes (LevelDB's
// include/leveldb/env.h in spirit), so that storage code can be tested over a
// fault-injecting layer (FaultInjectionEnv below).
//
// Every operation returns Status/Result; messages name the file and the
// failing call ("open /data/wal/000012.log: No such file or directory"). Disk
// full (ENOSPC, EDQUOT) maps to kResourceExhausted (retry may succeed once
// space returns); other errno values map to kIoError, except ENOENT →
// kNotFound.
//
// Thread-safety: Env implementations are thread-safe. File objects are not:
// one thread uses a file at a time, except RandomAccessFile::Read, which may
// be called concurrently.
#ifndef LOUPE_COMMON_ENV_H_
#define LOUPE_COMMON_ENV_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace loupe {

// A file read from start to end.
class SequentialFile {
 public:
  virtual ~SequentialFile() = default;
  // Reads up to n bytes. *result points into scratch (REQUIRES: scratch holds
  // n bytes) or into memory the file owns; it is shorter than n only at EOF.
  virtual Status Read(size_t n, std::string_view* result, char* scratch) = 0;
  virtual Status Skip(uint64_t n) = 0;
};

// A file read at arbitrary offsets. Read may be called concurrently.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Reads up to n bytes at offset. *result points into scratch or into memory
  // owned by the file (valid until the file is destroyed); it is shorter than
  // n only at EOF.
  virtual Status Read(uint64_t offset, size_t n, std::string_view* result, char* scratch) const = 0;
  // The file's size when it was opened.
  virtual uint64_t Size() const = 0;
  // Non-null when the whole file is mapped in memory: reads can then use the
  // returned pointer directly (valid until the file is destroyed).
  virtual const char* MappedData() const { return nullptr; }
  // For a mapped file: drops the mapping's pages from this process's resident
  // set (they stay in the page cache; the next read faults them back in).
  // Reads may run concurrently. The default does nothing.
  virtual void DropResidentPages() const {}
};

// A file written sequentially. Append buffers; Flush hands the buffer to the
// OS; Sync makes everything appended durable (fdatasync).
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // On error some prefix of data may have reached the file.
  virtual Status Append(std::string_view data) = 0;
  virtual Status Flush() = 0;
  virtual Status Sync() = 0;
  virtual Status Close() = 0;
};

// A held lock on a file (see Env::LockFile). Released by Env::UnlockFile.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class Env {
 public:
  virtual ~Env() = default;

  // The process-wide POSIX Env. Never deleted.
  static Env* Default();

  virtual Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) = 0;
  // The default Env maps the file read-only with mmap.
  virtual Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) = 0;
  // Creates or truncates path.
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) = 0;

  virtual bool FileExists(const std::string& path) = 0;
  // Names (not paths) of the entries of dir, without "." and "..".
  virtual Result<std::vector<std::string>> GetChildren(const std::string& dir) = 0;
  virtual Status DeleteFile(const std::string& path) = 0;
  // Creates dir; OK if it already exists.
  virtual Status CreateDir(const std::string& dir) = 0;
  virtual Result<uint64_t> GetFileSize(const std::string& path) = 0;
  // Atomically replaces `to` with `from` (rename(2)). Call SyncDir to make it durable.
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  // fsyncs the directory so that created, renamed and deleted entries are durable.
  virtual Status SyncDir(const std::string& dir) = 0;
  // Takes an exclusive advisory lock on path (created if needed), so that two
  // processes — or two opens in one process — do not share a data directory.
  // Fails with kUnavailable if the lock is held.
  virtual Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) = 0;
  virtual Status UnlockFile(std::unique_ptr<FileLock> lock) = 0;
};

// Writes data to path durably: a temporary file, Sync, rename, SyncDir.
Status WriteFileAtomically(Env* env, const std::string& path, std::string_view data);
// Reads a whole file.
Result<std::string> ReadFileToString(Env* env, const std::string& path);

// FaultInjectionEnv wraps another Env (not owned; must outlive it) and can be
// told to fail, for tests of storage code:
//  - SetWriteBudget(n): the next n bytes of appends succeed; past them a write
//    persists only what fits and fails with kResourceExhausted ("No space
//    left on device"), as a full disk does. -1 (default) = unlimited.
//  - SetShortWrites(true): every Append writes half of its data (at least one
//    byte) and fails with kIoError, as an interrupted write does.
//  - SetSyncError(true): Sync fails with kIoError and syncs nothing.
//  - DropUnsyncedData(): simulates a crash of the machine: every file written
//    through this Env is cut back to the size it had at its last successful
//    Sync (files never synced are cut to 0 bytes). Open writable files become
//    unusable (their later appends fail).
// Counters say how many faults were injected. Thread-safe.
class FaultInjectionEnv final : public Env {
 public:
  explicit FaultInjectionEnv(Env* base) : base_(base) {}

  void SetWriteBudget(int64_t bytes);
  void SetShortWrites(bool on);
  void SetSyncError(bool on);
  Status DropUnsyncedData();

  uint64_t injected_faults() const;
  uint64_t syncs() const;

  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) override;
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  bool FileExists(const std::string& path) override;
  Result<std::vector<std::string>> GetChildren(const std::string& dir) override;
  Status DeleteFile(const std::string& path) override;
  Status CreateDir(const std::string& dir) override;
  Result<uint64_t> GetFileSize(const std::string& path) override;
  Status RenameFile(const std::string& from, const std::string& to) override;
  Status SyncDir(const std::string& dir) override;
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override;
  Status UnlockFile(std::unique_ptr<FileLock> lock) override;

 private:
  class File;
  friend class File;

  struct FileState {
    uint64_t size = 0;         // bytes appended
    uint64_t synced_size = 0;  // bytes durable
    uint64_t generation = 0;   // bumped by DropUnsyncedData: older handles are dead
  };

  // Decides how much of an n-byte append may be written; sets *fault.
  size_t AdmitWrite(size_t n, Status* fault);

  Env* const base_;
  mutable std::mutex mu_;
  std::map<std::string, FileState> files_;  // GUARDED_BY(mu_)
  int64_t write_budget_ = -1;               // GUARDED_BY(mu_)
  bool short_writes_ = false;               // GUARDED_BY(mu_)
  bool sync_error_ = false;                 // GUARDED_BY(mu_)
  uint64_t faults_ = 0;                     // GUARDED_BY(mu_)
  uint64_t syncs_ = 0;                      // GUARDED_BY(mu_)
};

}  // namespace loupe

#endif  // LOUPE_COMMON_ENV_H_
