#include "ingest/otlp_grpc_receiver.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "ingest/otlp_http_receiver.h"
#include "wire/otlp_proto.h"
#include "wire/otlp_response.h"

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
        ->GetCounter("loupe_ingest_requests_total",
                     "OTLP export requests by transport and result.",
                     {{"transport", "grpc"}, {"result", result}})
        ->Inc();
  }
};

// One unary Export call: read the request, process it, write and finish.
class ExportReactor final : public grpc::ServerGenericBidiReactor {
 public:
  ExportReactor(Shared* shared, grpc::GenericCallbackServerContext* ctx)
      : shared_(shared), ctx_(ctx) {
    if (ctx->method() != kExportMethod) {
      shared_->Count("unimplemented");
      Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                          "Loupe accepts " + std::string(kExportMethod) + " only"));
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // Client half-closed without a message, or the call was cancelled.
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no request message"));
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
      shared_->Count("unavailable");
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
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
    std::string_view key = BearerToken(Metadata("authorization"));
    if (key.empty()) key = Metadata("x-loupe-key");
    if (key.empty()) {
      shared_->Count("unauthenticated");
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          "missing ingest key: send metadata 'authorization: Bearer <key>'");
    }
    auto project = shared_->registry->AuthenticateIngestKey(key);
    if (!project.ok()) {
      shared_->Count("unauthenticated");
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "unknown ingest key");
    }
    int64_t reserve = static_cast<int64_t>(request_.Length());
    if (!shared_->pipeline->ReserveBytes(reserve)) {
      shared_->Count("unavailable");
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "ingest memory budget in use; retry later");
    }
    struct Release {
      Pipeline* p;
      int64_t n;
      ~Release() { p->ReleaseBytes(n); }
    } release{shared_->pipeline, reserve};
    std::vector<grpc::Slice> slices;
    if (!request_.Dump(&slices).ok()) {
      shared_->Count("malformed");
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "unreadable message");
    }
    std::string body;
    body.reserve(request_.Length());
    for (const auto& s : slices) body.append(reinterpret_cast<const char*>(s.begin()), s.size());

    model::SpanBatch batch;
    Status s = wire::DecodeTracesProto(body, shared_->options.limits, &batch);
    if (!s.ok()) {
      shared_->Count("malformed");
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, s.message());
    }
    auto result =
        shared_->pipeline->Submit(LoggedRequest{*project, RequestFormat::kOtlpProto, body}, batch);
    if (!result.ok()) {
      if (result.status().code() == Status::Code::kResourceExhausted) {
        // OTLP: RESOURCE_EXHAUSTED is retryable only with RetryInfo in the
        // status details; ask for a retry in 5 s.
        shared_->Count("disk_full");
        return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, result.status().message(),
                            wire::EncodeRpcStatusWithRetryProto(8, result.status().message(), 5));
      }
      shared_->Count("unavailable");
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, result.status().message());
    }
    shared_->Count("ok");
    uint64_t rejected = result->rejected_spans + batch.invalid_spans;
    std::string message = result->message;
    if (batch.invalid_spans > 0) {
      if (!message.empty()) message += "; ";
      message += std::to_string(batch.invalid_spans) + " spans with invalid trace or span ids";
    }
    std::string out = wire::EncodeExportResponseProto(static_cast<int64_t>(rejected), message);
    grpc::Slice slice(out);
    response_ = grpc::ByteBuffer(&slice, 1);
    return grpc::Status::OK;
  }

  Shared* shared_;
  grpc::GenericCallbackServerContext* ctx_;
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
