#include "common/env.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace loupe {
namespace {

class EnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loupe_env_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  std::string dir_;
};

Status WriteAll(Env* env, const std::string& path, std::string_view data, bool sync) {
  auto f = env->NewWritableFile(path);
  if (!f.ok()) return f.status();
  Status s = (*f)->Append(data);
  if (s.ok() && sync) s = (*f)->Sync();
  Status c = (*f)->Close();
  return s.ok() ? c : s;
}

TEST_F(EnvTest, WriteReadRenameDeleteRoundTrip) {
  Env* env = Env::Default();
  ASSERT_TRUE(WriteAll(env, Path("a"), "hello world", true).ok());
  auto size = env->GetFileSize(Path("a"));
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 11u);

  auto ra = env->NewRandomAccessFile(Path("a"));
  ASSERT_TRUE(ra.ok());
  std::string_view r;
  char scratch[16];
  ASSERT_TRUE((*ra)->Read(6, 100, &r, scratch).ok());
  EXPECT_EQ(r, "world");
  EXPECT_NE((*ra)->MappedData(), nullptr);

  ASSERT_TRUE(env->RenameFile(Path("a"), Path("b")).ok());
  EXPECT_FALSE(env->FileExists(Path("a")));
  auto content = ReadFileToString(env, Path("b"));
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(*content, "hello world");

  auto children = env->GetChildren(dir_);
  ASSERT_TRUE(children.ok());
  EXPECT_EQ(*children, std::vector<std::string>{"b"});
  ASSERT_TRUE(env->DeleteFile(Path("b")).ok());
  EXPECT_EQ(env->DeleteFile(Path("b")).code(), Status::Code::kNotFound);
  ASSERT_TRUE(env->SyncDir(dir_).ok());
}

TEST_F(EnvTest, LargeAppendsBypassTheBuffer) {
  Env* env = Env::Default();
  std::string big(300 * 1024, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  auto f = env->NewWritableFile(Path("big"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("head").ok());
  ASSERT_TRUE((*f)->Append(big).ok());
  ASSERT_TRUE((*f)->Append("tail").ok());
  ASSERT_TRUE((*f)->Close().ok());
  auto content = ReadFileToString(env, Path("big"));
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(*content, "head" + big + "tail");
}

TEST_F(EnvTest, MissingFileIsNotFoundWithThePathInTheMessage) {
  auto f = Env::Default()->NewSequentialFile(Path("nope"));
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), Status::Code::kNotFound);
  EXPECT_NE(f.status().message().find(Path("nope")), std::string::npos);
}

TEST_F(EnvTest, LockFileExcludesASecondLockerEvenInTheSameProcess) {
  Env* env = Env::Default();
  auto a = env->LockFile(Path("LOCK"));
  ASSERT_TRUE(a.ok());
  auto b = env->LockFile(Path("LOCK"));
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), Status::Code::kUnavailable);
  ASSERT_TRUE(env->UnlockFile(std::move(*a)).ok());
  auto c = env->LockFile(Path("LOCK"));
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(env->UnlockFile(std::move(*c)).ok());
}

TEST_F(EnvTest, WriteFileAtomicallyReplacesContent) {
  Env* env = Env::Default();
  ASSERT_TRUE(WriteFileAtomically(env, Path("f"), "one").ok());
  ASSERT_TRUE(WriteFileAtomically(env, Path("f"), "two").ok());
  EXPECT_EQ(*ReadFileToString(env, Path("f")), "two");
  EXPECT_FALSE(env->FileExists(Path("f.tmp")));
}

TEST_F(EnvTest, FaultInjectionDiskFullWritesWhatFitsThenFails) {
  FaultInjectionEnv env(Env::Default());
  env.SetWriteBudget(5);
  auto f = env.NewWritableFile(Path("x"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("abc").ok());
  Status s = (*f)->Append("defgh");
  EXPECT_EQ(s.code(), Status::Code::kResourceExhausted);
  EXPECT_TRUE(s.retryable());
  ASSERT_TRUE((*f)->Close().ok());
  EXPECT_EQ(*ReadFileToString(&env, Path("x")), "abcde");
  EXPECT_EQ(env.injected_faults(), 1u);

  env.SetWriteBudget(-1);  // space returns
  EXPECT_TRUE(WriteAll(&env, Path("y"), "more", true).ok());
}

TEST_F(EnvTest, FaultInjectionShortWritesPersistAPrefix) {
  FaultInjectionEnv env(Env::Default());
  env.SetShortWrites(true);
  auto f = env.NewWritableFile(Path("x"));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)->Append("12345678").code(), Status::Code::kIoError);
  ASSERT_TRUE((*f)->Close().ok());
  EXPECT_EQ(*ReadFileToString(&env, Path("x")), "1234");
}

TEST_F(EnvTest, FaultInjectionSyncErrorIsReported) {
  FaultInjectionEnv env(Env::Default());
  env.SetSyncError(true);
  auto f = env.NewWritableFile(Path("x"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("data").ok());
  EXPECT_EQ((*f)->Sync().code(), Status::Code::kIoError);
  EXPECT_EQ(env.SyncDir(dir_).code(), Status::Code::kIoError);
  env.SetSyncError(false);
  EXPECT_TRUE((*f)->Sync().ok());
}

TEST_F(EnvTest, FaultInjectionCrashDropsUnsyncedBytes) {
  FaultInjectionEnv env(Env::Default());
  auto f = env.NewWritableFile(Path("log"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("durable|").ok());
  ASSERT_TRUE((*f)->Sync().ok());
  ASSERT_TRUE((*f)->Append("lost").ok());
  ASSERT_TRUE((*f)->Flush().ok());
  ASSERT_TRUE(WriteAll(&env, Path("never_synced"), "gone", false).ok());

  ASSERT_TRUE(env.DropUnsyncedData().ok());
  EXPECT_EQ(*ReadFileToString(&env, Path("log")), "durable|");
  EXPECT_EQ(*ReadFileToString(&env, Path("never_synced")), "");
  // A handle from before the crash is dead.
  EXPECT_FALSE((*f)->Append("x").ok());
}

}  // namespace
}  // namespace loupe
