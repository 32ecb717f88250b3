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

#include "common/logging.h"
#include "common/memory.h"
#include "ingest/otlp_http_receiver.h"
#include "wire/gzip.h"
#include "wire/otlp_proto.h"
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

constexpr char kExportMethod[] = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

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
  auth::Registry* registry;
  Pipeline* pipeline;
  MetricsRegistry* metrics;
  OtlpGrpcOptions options;

  void Count(const char* result) {
    metrics
        ->GetCounter("loupe_ingest_requests_total", "OTLP export requests by transport and result.",
                     {{"transport", "grpc"}, {"result", result}})
        ->Inc();
  }
  // Counts a refused call and logs the first of its kind (rate-limited).
  grpc::Status Refuse(const char* result, grpc::StatusCode code, const std::string& message,
                      const std::string& details = {}) {
    Count(result);
    LogWarningRateLimited(std::string("otlp_grpc ") + result,
                          std::string("OTLP/gRPC export refused (") + result + "): " + message);
    return details.empty() ? grpc::Status(code, message) : grpc::Status(code, message, details);
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
    if (ctx->method() != kExportMethod) {
      Finish(shared_->Refuse("unimplemented", grpc::StatusCode::UNIMPLEMENTED,
                             "Loupe accepts " + std::string(kExportMethod) + " only"));
      return;
    }
    std::string_view key = BearerToken(Metadata("authorization"));
    if (key.empty()) key = Metadata("x-loupe-key");
    if (key.empty()) {
      Finish(shared_->Refuse("unauthenticated", grpc::StatusCode::UNAUTHENTICATED,
                             "missing ingest key: send metadata 'authorization: Bearer <key>'"));
      return;
    }
    auto project = shared_->registry->AuthenticateIngestKey(key);
    if (!project.ok()) {
      Finish(shared_->Refuse("unauthenticated", grpc::StatusCode::UNAUTHENTICATED,
                             "unknown ingest key"));
      return;
    }
    project_ = *project;
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // Client half-closed without a message, or the call was cancelled: by
      // the client, or by gRPC for a message over its receive limit (20 MiB
      // as sent), which it answers RESOURCE_EXHAUSTED itself.
      Finish(shared_->Refuse("no_message", grpc::StatusCode::INVALID_ARGUMENT,
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
      Finish(shared_->Refuse("unavailable", grpc::StatusCode::UNAVAILABLE,
                             "too many export calls waiting; retry later"));
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
    grpc::Status status = Decode(&raw, &held);
    // A rejected large request (a bomb inflated to the limit) leaves its
    // buffers in glibc's heap; give them back.
    if (!status.ok()) ReleaseFreedMemory(held);
    return status;
  }

  // *held: the most bytes this call's buffers held at once.
  grpc::Status Decode(RawMessage* raw, size_t* held) {
    const size_t limit = shared_->options.max_message_bytes;
    int64_t reserve = static_cast<int64_t>(raw->bytes.size());
    if (!shared_->pipeline->ReserveBytes(reserve)) {
      return shared_->Refuse("unavailable", grpc::StatusCode::UNAVAILABLE,
                             "ingest memory budget in use; retry later");
    }
    struct Release {
      Pipeline* p;
      int64_t* n;
      ~Release() { p->ReleaseBytes(*n); }
    } release{shared_->pipeline, &reserve};

    std::string inflated;
    std::string* body = &raw->bytes;
    switch (raw->compression) {
      case GRPC_COMPRESS_NONE:
        break;
      case GRPC_COMPRESS_DEFLATE:  // zlib format; wire::Gunzip reads both
      case GRPC_COMPRESS_GZIP: {
        Status s = wire::Gunzip(raw->bytes, limit, &inflated);
        *held = raw->bytes.size() + inflated.capacity();
        if (!s.ok()) {
          if (s.code() == Status::Code::kResourceExhausted) {
            return shared_->Refuse(
                "too_large", grpc::StatusCode::RESOURCE_EXHAUSTED,
                "decompressed message exceeds the limit of " + std::to_string(limit) + " bytes");
          }
          return shared_->Refuse("bad_gzip", grpc::StatusCode::INVALID_ARGUMENT,
                                 "bad compressed message: " + s.message());
        }
        body = &inflated;
        std::string().swap(raw->bytes);
        if (!shared_->pipeline->ReserveBytes(static_cast<int64_t>(inflated.size()))) {
          return shared_->Refuse("unavailable", grpc::StatusCode::UNAVAILABLE,
                                 "ingest memory budget in use; retry later");
        }
        reserve += static_cast<int64_t>(inflated.size());
        break;
      }
      default: {
        const char* name = "unknown";
        grpc_compression_algorithm_name(raw->compression, &name);
        return shared_->Refuse(
            "unsupported_encoding", grpc::StatusCode::UNIMPLEMENTED,
            std::string("unsupported grpc-encoding '") + name + "': use gzip, deflate or identity");
      }
    }
    if (body->size() > limit) {
      return shared_->Refuse("too_large", grpc::StatusCode::RESOURCE_EXHAUSTED,
                             "message of " + std::to_string(body->size()) +
                                 " bytes exceeds the limit of " + std::to_string(limit));
    }

    model::SpanBatch batch;
    Status s = wire::DecodeTracesProto(*body, shared_->options.limits, &batch);
    if (!s.ok()) {
      return shared_->Refuse("malformed", grpc::StatusCode::INVALID_ARGUMENT, s.message());
    }
    auto result =
        shared_->pipeline->Submit(LoggedRequest{project_, RequestFormat::kOtlpProto, *body}, batch);
    if (!result.ok()) {
      if (result.status().code() == Status::Code::kResourceExhausted) {
        // OTLP: RESOURCE_EXHAUSTED is retryable only with RetryInfo in the
        // status details; ask for a retry in 5 s.
        return shared_->Refuse(
            "disk_full", grpc::StatusCode::RESOURCE_EXHAUSTED, result.status().message(),
            wire::EncodeRpcStatusWithRetryProto(8, result.status().message(), 5));
      }
      return shared_->Refuse("unavailable", grpc::StatusCode::UNAVAILABLE,
                             result.status().message());
    }
    shared_->Count("ok");
    std::string out = wire::EncodeExportResponseProto(static_cast<int64_t>(result->rejected_spans),
                                                      result->message);
    grpc::Slice slice(out);
    response_ = grpc::ByteBuffer(&slice, 1);
    return grpc::Status::OK;
  }

  Shared* shared_;
  grpc::GenericCallbackServerContext* ctx_;
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
    // Decode() inflates them bounded by max_message_bytes. (The receive limit
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

Result<std::unique_ptr<OtlpGrpcReceiver>> OtlpGrpcReceiver::Start(auth::Registry* registry,
                                                                  Pipeline* pipeline,
                                                                  MetricsRegistry* metrics,
                                                                  OtlpGrpcOptions options) {
  auto r = std::make_unique<GrpcReceiver>(Shared{nullptr, registry, pipeline, metrics, options});
  Status s = r->Init();
  if (!s.ok()) return s;
  return std::unique_ptr<OtlpGrpcReceiver>(std::move(r));
}

}  // namespace loupe::ingest
