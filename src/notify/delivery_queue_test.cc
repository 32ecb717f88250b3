#include "notify/delivery_queue.h"

#include <gtest/gtest.h>

#include "common/env.h"
#include "notify/notify_test_util.h"

namespace loupe::notify {
namespace {

using testing::ScopedTempDir;

Notification Note(int i) {
  Notification n;
  n.id = "n" + std::to_string(i);
  n.alert_id = "a" + std::to_string(i);
  n.title = "alert " + std::to_string(i);
  n.value = i;
  return n;
}

std::unique_ptr<DeliveryQueue> OpenQueue(const std::string& dir, Env* env = Env::Default(),
                                         size_t max_entries = 100, size_t checkpoint_every = 256) {
  DeliveryQueueOptions o;
  o.env = env;
  o.dir = dir;
  o.max_entries = max_entries;
  o.checkpoint_every = checkpoint_every;
  Result<std::unique_ptr<DeliveryQueue>> q = DeliveryQueue::Open(o);
  EXPECT_TRUE(q.ok()) << q.status().ToString();
  return q.ok() ? std::move(q).value() : nullptr;
}

std::vector<std::string> Ids(DeliveryQueue* q) {
  std::vector<std::string> ids;
  while (auto e = q->Front()) {
    ids.push_back(e->notification.id);
    EXPECT_TRUE(q->Remove(e->seq).ok());
  }
  return ids;
}

TEST(DeliveryQueue, FifoAndRemove) {
  ScopedTempDir tmp;
  auto q = OpenQueue(tmp.path());
  std::optional<QueueEntry> dropped;
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(q->Push(Note(i), 1000 * i, &dropped).ok());
  EXPECT_FALSE(dropped.has_value());
  EXPECT_EQ(q->size(), 3u);
  auto front = q->Front();
  ASSERT_TRUE(front.has_value());
  EXPECT_EQ(front->seq, 1u);
  EXPECT_EQ(front->enqueued_ms, 1000);
  EXPECT_EQ(Ids(q.get()), (std::vector<std::string>{"n1", "n2", "n3"}));
  EXPECT_TRUE(q->Remove(99).ok());  // unknown: no-op
}

TEST(DeliveryQueue, PendingEntriesSurviveReopenDoneOnesDoNot) {
  ScopedTempDir tmp;
  {
    auto q = OpenQueue(tmp.path());
    std::optional<QueueEntry> dropped;
    for (int i = 1; i <= 4; ++i) ASSERT_TRUE(q->Push(Note(i), i, &dropped).ok());
    ASSERT_TRUE(q->Remove(1).ok());
    ASSERT_TRUE(q->Remove(3).ok());
  }
  auto q = OpenQueue(tmp.path());
  EXPECT_EQ(q->replay_stats().pending, 2u);
  auto e = q->Front();
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->seq, 2u);
  EXPECT_EQ(e->notification.title, "alert 2");
  std::optional<QueueEntry> dropped;
  ASSERT_TRUE(q->Push(Note(5), 5, &dropped).ok());
  EXPECT_EQ(q->Front()->seq, 2u);
  EXPECT_EQ(Ids(q.get()), (std::vector<std::string>{"n2", "n4", "n5"}));
}

TEST(DeliveryQueue, SequenceNumbersKeepGrowingAcrossReopen) {
  ScopedTempDir tmp;
  std::optional<QueueEntry> dropped;
  {
    auto q = OpenQueue(tmp.path());
    ASSERT_TRUE(q->Push(Note(1), 1, &dropped).ok());
    ASSERT_TRUE(q->Remove(1).ok());
  }
  auto q = OpenQueue(tmp.path());
  EXPECT_EQ(q->size(), 0u);
  ASSERT_TRUE(q->Push(Note(2), 2, &dropped).ok());
  EXPECT_EQ(q->Front()->seq, 2u);
}

TEST(DeliveryQueue, FullQueueDropsOldestDurably) {
  ScopedTempDir tmp;
  {
    auto q = OpenQueue(tmp.path(), Env::Default(), /*max_entries=*/3);
    std::optional<QueueEntry> dropped;
    for (int i = 1; i <= 3; ++i) ASSERT_TRUE(q->Push(Note(i), i, &dropped).ok());
    ASSERT_TRUE(q->Push(Note(4), 4, &dropped).ok());
    ASSERT_TRUE(dropped.has_value());
    EXPECT_EQ(dropped->notification.id, "n1");
    EXPECT_EQ(q->size(), 3u);
  }
  auto q = OpenQueue(tmp.path(), Env::Default(), 3);
  EXPECT_EQ(Ids(q.get()), (std::vector<std::string>{"n2", "n3", "n4"}));
}

TEST(DeliveryQueue, SnapshotsBoundTheLogAndKeepPendingEntries) {
  ScopedTempDir tmp;
  {
    auto q = OpenQueue(tmp.path(), Env::Default(), 100, /*checkpoint_every=*/8);
    std::optional<QueueEntry> dropped;
    for (int i = 1; i <= 200; ++i) {
      ASSERT_TRUE(q->Push(Note(i), i, &dropped).ok());
      if (i % 10 != 0) {
        ASSERT_TRUE(q->Remove(q->Front()->seq).ok());
      }
    }
    EXPECT_EQ(q->size(), 20u);
  }
  Result<std::vector<std::string>> files = Env::Default()->GetChildren(tmp.path());
  ASSERT_TRUE(files.ok());
  size_t segments = 0;
  for (const auto& f : *files) segments += f.ends_with(".wal") ? 1 : 0;
  EXPECT_LE(segments, 3u);  // older segments were deleted by snapshots
  auto q = OpenQueue(tmp.path(), Env::Default(), 100, 8);
  EXPECT_EQ(q->size(), 20u);
  EXPECT_EQ(q->Front()->notification.id, "n181");
  std::optional<QueueEntry> dropped;
  ASSERT_TRUE(q->Push(Note(201), 201, &dropped).ok());
  EXPECT_EQ(q->size(), 21u);
}

TEST(DeliveryQueue, AcknowledgedPushSurvivesMachineCrash) {
  ScopedTempDir tmp;
  FaultInjectionEnv env(Env::Default());
  {
    auto q = OpenQueue(tmp.path(), &env);
    std::optional<QueueEntry> dropped;
    ASSERT_TRUE(q->Push(Note(1), 1, &dropped).ok());
    ASSERT_TRUE(q->Push(Note(2), 2, &dropped).ok());
    ASSERT_TRUE(q->Remove(1).ok());
    ASSERT_TRUE(env.DropUnsyncedData().ok());  // the crash: nothing unsynced survives
  }
  auto q = OpenQueue(tmp.path());
  EXPECT_EQ(Ids(q.get()), (std::vector<std::string>{"n2"}));
}

TEST(DeliveryQueue, FailedWriteIsReportedAndNotQueued) {
  ScopedTempDir tmp;
  FaultInjectionEnv env(Env::Default());
  auto q = OpenQueue(tmp.path(), &env);
  std::optional<QueueEntry> dropped;
  env.SetSyncError(true);
  EXPECT_FALSE(q->Push(Note(1), 1, &dropped).ok());
  EXPECT_EQ(q->size(), 0u);
  env.SetSyncError(false);
  EXPECT_TRUE(q->Push(Note(2), 2, &dropped).ok());
  EXPECT_EQ(q->Front()->notification.id, "n2");
}

TEST(DeliveryQueue, OversizedNotificationIsRefused) {
  ScopedTempDir tmp;
  auto q = OpenQueue(tmp.path());
  Notification n = Note(1);
  n.title.assign(kMaxNotificationBytes, 'x');
  std::optional<QueueEntry> dropped;
  EXPECT_EQ(q->Push(n, 1, &dropped).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(q->size(), 0u);
}

TEST(DeliveryQueue, SecondOpenOfOneDirectoryIsRefused) {
  ScopedTempDir tmp;
  auto q = OpenQueue(tmp.path());
  DeliveryQueueOptions o;
  o.dir = tmp.path();
  EXPECT_FALSE(DeliveryQueue::Open(o).ok());
}

}  // namespace
}  // namespace loupe::notify
