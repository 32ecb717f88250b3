#include "ingest/otlp_grpc_receiver.h"

#include <grpc/compression.h>
#include <grpc/slice.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common/memory.h"
#include "ingest/status_mapping.h"
#include "wire/otlp_response.h"

// grpc::ByteBuffer names this class as a friend (a hook for gRPC's own tests);
// defining it here is the one way to read which compression a received
// message still carries (grpc_byte_buffer::data.raw.compression) once gRPC's
// per-message decompression is turned off.
namespace grpc::internal {
class GrpcByteBufferPeer {
 public:
  explicit GrpcByteBufferPeer(ByteBuffer* bb) : bb_(bb) {}
  grpc_byte_buffer* c_buffer() { return bb_->c_buffer(); }

 private:
  ByteBuffer* bb_;
};
}  // namespace grpc::internal

namespace loupe::ingest {
namespace {

// Runs Export calls off gRPC's callback threads: with the durable ingest log a
// call waits for an fsync (milliseconds), and gRPC's callback executor is
// small, so blocking it would serialize exporters. Bounded: past max_queued
// waiting calls, new ones are refused with UNAVAILABLE at once.
class WorkerPool {
 public:
  WorkerPool(int threads, size_t max_queued) : max_queued_(max_queued) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~WorkerPool() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  // False when the queue is full (the caller answers UNAVAILABLE).
  bool Post(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (queue_.size() >= max_queued_) return false;
      queue_.push_back(std::move(fn));
    }
    cv_.notify_one();
    return true;
  }

 private:
  void Run() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [this] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and everything posted has run
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
      fn();
    }
  }

  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // GUARDED_BY(mu_)
  bool stop_ = false;                        // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

struct Shared {
  WorkerPool* pool = nullptr;
  OtlpFrontDoor* door;
  OtlpGrpcOptions options;

  // Counts a call's outcome (logging the first refusal of each kind) and
  // spells a refusal as a gRPC status (ingest/status_mapping.h).
  grpc::Status Answer(const Refusal& refusal) {
    door->CountGrpc(refusal);
    if (!refusal.refused()) return grpc::Status::OK;
    const ReasonInfo& info = Describe(refusal.reason);
    const auto code = static_cast<grpc::StatusCode>(info.grpc_code);
    // OTLP: RESOURCE_EXHAUSTED is retryable only with RetryInfo in the
    // status details.
    if (code == grpc::StatusCode::RESOURCE_EXHAUSTED && info.retry_after_seconds > 0) {
      return grpc::Status(code, refusal.message,
                          wire::EncodeRpcStatusWithRetryProto(info.body_code, refusal.message,
                                                              info.retry_after_seconds));
    }
    return grpc::Status(code, refusal.message);
  }
  grpc::Status Refuse(Reason reason, std::string message) {
    return Answer(Refusal{reason, std::move(message)});
  }
};

// The bytes of a received message as they came off the wire, and the
// compression they still carry (decompression is off, see Init()).
struct RawMessage {
  std::string bytes;
  grpc_compression_algorithm compression = GRPC_COMPRESS_NONE;
};

RawMessage TakeRaw(grpc::ByteBuffer* bb) {
  RawMessage m;
  grpc_byte_buffer* c = grpc::internal::GrpcByteBufferPeer(bb).c_buffer();
  if (c == nullptr || c->type != GRPC_BB_RAW) return m;
  m.compression = c->data.raw.compression;
  const grpc_slice_buffer& sb = c->data.raw.slice_buffer;
  m.bytes.reserve(sb.length);
  for (size_t i = 0; i < sb.count; ++i) {
    m.bytes.append(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(sb.slices[i])),
                   GRPC_SLICE_LENGTH(sb.slices[i]));
  }
  bb->Clear();
  return m;
}

// One unary Export call: read the request, process it, write and finish.
class ExportReactor final : public grpc::ServerGenericBidiReactor {
 public:
  // Decides everything the call's metadata allows before its message is
  // read: the method and the ingest key (no key, no read: a bomb sent without
  // a key costs nothing).
  ExportReactor(Shared* shared, grpc::GenericCallbackServerContext* ctx)
      : shared_(shared), ctx_(ctx) {
    handler_ = shared_->door->GrpcMethod(ctx->method());
    if (handler_ == nullptr) {
      Finish(shared_->Refuse(Reason::kUnimplemented,
                             "Loupe accepts " + shared_->door->GrpcMethodNames() + " only"));
      return;
    }
    std::string_view key = BearerToken(Metadata("authorization"));
    if (key.empty()) key = Metadata("x-loupe-key");
    if (Refusal r = shared_->door->Authenticate(key, true, &project_); r.refused()) {
      Finish(shared_->Answer(r));
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // Client half-closed without a message, or the call was cancelled: by
      // the client, or by gRPC for a message over its receive limit (20 MiB
      // as sent), which it answers RESOURCE_EXHAUSTED itself.
      Finish(shared_->Refuse(Reason::kNoMessage,
                             "no request message (cancelled, or over the size limit as sent)"));
      return;
    }
    // The reactor lives until OnDone, which follows Finish: safe to finish
    // from the pool thread.
    const bool posted = shared_->pool->Post([this] {
      grpc::Status status = Process();
      if (!status.ok()) {
        Finish(status);
        return;
      }
      StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
    });
    if (!posted) {
      Finish(shared_->Refuse(Reason::kUnavailable, "too many export calls waiting; retry later"));
    }
  }

  void OnDone() override { delete this; }

 private:
  std::string_view Metadata(const char* key) const {
    auto it = ctx_->client_metadata().find(key);
    if (it == ctx_->client_metadata().end()) return {};
    return std::string_view(it->second.data(), it->second.size());
  }

  grpc::Status Process() {
    RawMessage raw = TakeRaw(&request_);
    size_t held = raw.bytes.size();
    IngestReply reply;
    Coding coding = Coding::kIdentity;
    switch (raw.compression) {
      case GRPC_COMPRESS_NONE:
        break;
      case GRPC_COMPRESS_DEFLATE:
        coding = Coding::kDeflate;
        break;
      case GRPC_COMPRESS_GZIP:
        coding = Coding::kGzip;
        break;
      default: {
        const char* name = "unknown";
        grpc_compression_algorithm_name(raw.compression, &name);
        reply = IngestReply::Refused(
            Reason::kUnsupportedEncoding,
            std::string("unsupported grpc-encoding '") + name + "': use gzip, deflate or identity");
      }
    }
    if (!reply.refusal.refused()) {
      reply = shared_->door->Admit(project_, &raw.bytes, coding, BodyFormat::kProto,
                                   shared_->options.max_message_bytes, nullptr, *handler_,
                                   /*grpc=*/true, &held);
    }
    grpc::Status status = shared_->Answer(reply.refusal);
    if (!status.ok()) {
      // A rejected large request (a bomb inflated to the limit) leaves its
      // buffers in glibc's heap; give them back.
      std::string().swap(raw.bytes);
      ReleaseFreedMemory(held);
      return status;
    }
    grpc::Slice slice(reply.body);
    response_ = grpc::ByteBuffer(&slice, 1);
    return status;
  }

  Shared* shared_;
  grpc::GenericCallbackServerContext* ctx_;
  const RouteHandler* handler_ = nullptr;
  auth::ProjectId project_ = 0;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
};

class Service final : public grpc::CallbackGenericService {
 public:
  explicit Service(Shared* shared) : shared_(shared) {}
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    return new ExportReactor(shared_, ctx);
  }

 private:
  Shared* shared_;
};

class GrpcReceiver final : public OtlpGrpcReceiver {
 public:
  GrpcReceiver(Shared shared)
      : pool_(shared.options.worker_threads, shared.options.max_queued_calls),
        shared_(std::move(shared)),
        service_(&shared_) {
    shared_.pool = &pool_;
  }

  Status Init() {
    grpc::ServerBuilder b;
    std::string addr = shared_.options.bind_address + ":" + std::to_string(shared_.options.port);
    b.AddListeningPort(addr, grpc::InsecureServerCredentials(), &port_);
    b.SetMaxReceiveMessageSize(static_cast<int>(shared_.options.max_message_bytes));
    // gRPC sets SO_REUSEPORT by default: a second server would then share the
    // port silently instead of failing to start.
    b.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    // gRPC would inflate a compressed message in full before any limit (a
    // 1 MB gzip bomb became 1 GiB of RSS). Off: messages arrive as sent and
    // the door inflates them bounded by max_message_bytes. (The receive limit
    // above then applies to the compressed size.)
    b.AddChannelArgument(GRPC_ARG_ENABLE_PER_MESSAGE_DECOMPRESSION, 0);
    b.RegisterCallbackGenericService(&service_);
    server_ = b.BuildAndStart();
    if (!server_ || port_ == 0) {
      return Status::Unavailable("cannot listen for OTLP/gRPC on " + addr);
    }
    return Status::OK();
  }

  uint16_t port() const override { return static_cast<uint16_t>(port_); }

  void Stop() override {
    if (server_) {
      server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
      server_->Wait();  // in-flight calls finish on pool_, which outlives this
      server_.reset();
    }
  }

  ~GrpcReceiver() override { Stop(); }

 private:
  WorkerPool pool_;  // declared first: destroyed after the server
  Shared shared_;
  Service service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace

Result<std::unique_ptr<OtlpGrpcReceiver>> OtlpGrpcReceiver::Start(OtlpFrontDoor* door,
                                                                  OtlpGrpcOptions options) {
  auto r = std::make_unique<GrpcReceiver>(Shared{nullptr, door, options});
  Status s = r->Init();
  if (!s.ok()) return s;
  return std::unique_ptr<OtlpGrpcReceiver>(std::move(r));
}

}  // namespace loupe::ingest
