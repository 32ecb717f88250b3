// Transaction and Step: the application-thread side of the agent. Everything
// here runs on the thread serving a request, so it is kept to a few clock
// reads, copies into the pooled State's text arena (no allocation in steady
// state), and short locks.

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <random>

#include "agent_internal.h"

namespace loupe {
namespace internal {

uint64_t NowUnixNanos() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t NowSteadyMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000u + static_cast<uint64_t>(ts.tv_nsec) / 1000000u;
}

namespace {

uint64_t SplitMix64(uint64_t* x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

struct Xoshiro {
  uint64_t s[4];
  Xoshiro() {
    std::random_device rd;
    uint64_t seed = (uint64_t{rd()} << 32) ^ rd() ^ NowUnixNanos() ^
                    (static_cast<uint64_t>(::syscall(SYS_gettid)) << 17);
    for (auto& v : s) v = SplitMix64(&seed);
  }
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t Next() {
    const uint64_t result = Rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = Rotl(s[3], 45);
    return result;
  }
};

}  // namespace

uint64_t Random64() {
  thread_local Xoshiro rng;
  uint64_t v;
  do {
    v = rng.Next();
  } while (v == 0);
  return v;
}

uint32_t ThreadId() {
  thread_local uint32_t tid = static_cast<uint32_t>(::syscall(SYS_gettid));
  return tid;
}

void NameThisThread(const char* name) {
#ifdef __linux__
  pthread_setname_np(pthread_self(), name);
#else
  (void)name;
#endif
}

Wakeup::Wakeup() {
  static_assert(sizeof(sem_t) <= sizeof(sem_), "sem_t does not fit");
  sem_init(reinterpret_cast<sem_t*>(sem_), 0, 0);
}

Wakeup::~Wakeup() { sem_destroy(reinterpret_cast<sem_t*>(sem_)); }

void Wakeup::Post() { sem_post(reinterpret_cast<sem_t*>(sem_)); }

void Wakeup::Wait(int timeout_ms) {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += timeout_ms / 1000;
  ts.tv_nsec += static_cast<long>(timeout_ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_nsec -= 1000000000L;
    ++ts.tv_sec;
  }
  while (sem_clockwait(reinterpret_cast<sem_t*>(sem_), CLOCK_MONOTONIC, &ts) != 0 &&
         errno == EINTR) {
  }
}

void* TextArena::AllocateSlow(size_t n) {
  // new char[] is aligned for any fundamental type, and blocks start aligned.
  if (n > kLarge) {
    large_.emplace_back(new char[n]);
    return large_.back().get();
  }
  if (used_ == blocks_.size()) blocks_.emplace_back(new char[kBlock]);
  char* p = blocks_[used_++].get();
  cur_ = p + n;
  left_ = kBlock - n;
  return p;
}

void TextArena::Reset() {
  cur_ = inline_;
  left_ = kInline;
  used_ = 0;
  large_.clear();
  if (blocks_.size() > kKeepBlocks) blocks_.resize(kKeepBlocks);
}

std::string Hex(const uint8_t* p, size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    s[2 * i] = kDigits[p[i] >> 4];
    s[2 * i + 1] = kDigits[p[i] & 15];
  }
  return s;
}

}  // namespace internal

namespace {

using internal::StepRecord;

thread_local Transaction::State* tls_current = nullptr;

// Cuts `s` to at most `max` bytes without splitting a UTF-8 sequence.
std::string_view Cut(std::string_view s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

void FillRandom(uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t v = internal::Random64();
    std::memcpy(p + i, &v, std::min<size_t>(8, n - i));
  }
}

// Whether `s` is still open on the calling thread (guards Steps that outlive
// their transaction or moved to another thread).
bool IsLive(const Transaction::State* s) {
  for (const Transaction::State* c = tls_current; c != nullptr; c = c->prev_current) {
    if (c == s) return true;
  }
  return false;
}

constexpr size_t kMaxAttributes = 64;
constexpr size_t kMaxBinds = 64;

}  // namespace

bool TraceContext::valid() const {
  bool t = false, s = false;
  for (uint8_t b : trace_id) t |= b != 0;
  for (uint8_t b : span_id) s |= b != 0;
  return t && s;
}

namespace {

bool ParseHex(std::string_view s, uint8_t* out) {
  for (size_t i = 0; i < s.size(); i += 2) {
    int v = 0;
    for (size_t j = 0; j < 2; ++j) {
      const char c = s[i + j];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= c - '0';
      } else if (c >= 'a' && c <= 'f') {
        v |= c - 'a' + 10;
      } else {
        return false;  // upper case is invalid per the spec
      }
    }
    out[i / 2] = static_cast<uint8_t>(v);
  }
  return true;
}

}  // namespace

bool ParseTraceparent(std::string_view h, TraceContext* out) {
  // version "-" trace-id "-" parent-id "-" trace-flags; later versions may
  // append "-..." fields, version 00 may not.
  if (h.size() < 55 || h[2] != '-' || h[35] != '-' || h[52] != '-') return false;
  uint8_t version;
  if (!ParseHex(h.substr(0, 2), &version) || version == 0xff) return false;
  if (version == 0 && h.size() != 55) return false;
  if (version != 0 && h.size() > 55 && h[55] != '-') return false;
  TraceContext c;
  uint8_t flags;
  if (!ParseHex(h.substr(3, 32), c.trace_id) || !ParseHex(h.substr(36, 16), c.span_id) ||
      !ParseHex(h.substr(53, 2), &flags)) {
    return false;
  }
  if (!c.valid()) return false;  // all-zero trace or parent id
  c.sampled = (flags & 1) != 0;
  *out = c;
  return true;
}

std::string FormatTraceparent(const TraceContext& ctx) {
  // Written in place: one allocation (the result) instead of three.
  static const char kDigits[] = "0123456789abcdef";
  std::string s = "00-00000000000000000000000000000000-0000000000000000-01";
  for (size_t i = 0; i < 16; ++i) {
    s[3 + 2 * i] = kDigits[ctx.trace_id[i] >> 4];
    s[4 + 2 * i] = kDigits[ctx.trace_id[i] & 15];
  }
  for (size_t i = 0; i < 8; ++i) {
    s[36 + 2 * i] = kDigits[ctx.span_id[i] >> 4];
    s[37 + 2 * i] = kDigits[ctx.span_id[i] & 15];
  }
  if (!ctx.sampled) s[54] = '0';
  return s;
}

// ---------------------------------------------------------------------------
// Transaction

Transaction::Transaction(Agent& agent, std::string_view endpoint, const TraceContext* parent)
    : state_(nullptr) {
  Agent::Impl* a = agent.impl();
  if (a == nullptr || !a->options.enabled || a->stopped.load(std::memory_order_relaxed)) return;
  State* s = a->NewState();
  s->owner = this;
  if (parent != nullptr && parent->valid()) {
    std::memcpy(s->trace_id, parent->trace_id, 16);
    std::memcpy(s->parent_span_id, parent->span_id, 8);
    s->has_parent = true;
    s->sampled = parent->sampled;
  } else {
    FillRandom(s->trace_id, 16);
  }
  FillRandom(s->span_id, 8);
  s->start_ns = internal::NowUnixNanos();
  s->endpoint = s->texts.Copy(Cut(endpoint, a->options.max_text));
  s->thread_id = internal::ThreadId();
  if (a->has_endpoint_limits.load(std::memory_order_relaxed)) {
    s->endpoint_active = a->EndpointCounter(s->endpoint);
    if (s->endpoint_active) s->endpoint_active->fetch_add(1, std::memory_order_relaxed);
  }
  a->Register(s);
  s->prev_current = tls_current;
  tls_current = s;
  state_ = s;
}

Transaction::~Transaction() { End(); }

void Transaction::End() {
  State* s = state_;
  if (s == nullptr) return;
  state_ = nullptr;
  const uint64_t now = internal::NowUnixNanos();
  s->end_ns = now;
  {
    std::lock_guard<internal::SpinLock> l(s->lock);
    for (int32_t i = s->open_top; i >= 0; i = s->steps[i].parent) {
      StepRecord& r = s->steps[i];
      if (r.open) {
        r.open = false;
        r.end_ns = now;
      }
    }
    s->open_top = -1;
  }
  if (tls_current == s) {
    tls_current = s->prev_current;
  } else {
    for (State* c = tls_current; c != nullptr; c = c->prev_current) {
      if (c->prev_current == s) {
        c->prev_current = s->prev_current;
        break;
      }
    }
  }
  if (s->endpoint_active) s->endpoint_active->fetch_sub(1, std::memory_order_relaxed);
  Agent::Impl* a = s->agent;
  a->Unregister(s);
  a->transactions.fetch_add(1, std::memory_order_relaxed);
  a->Enqueue(s);
}

Transaction* Transaction::Current() {
  return tls_current == nullptr ? nullptr : tls_current->owner;
}

namespace internal {

bool CurrentTransactionForCrash(uint64_t* span_id, std::string_view* endpoint) {
  const Transaction::State* s = tls_current;
  if (s == nullptr) return false;
  uint64_t v = 0;
  for (uint8_t b : s->span_id) v = (v << 8) | b;
  *span_id = v;
  *endpoint = s->endpoint;
  return true;
}

}  // namespace internal

// client_ip and user are written under the lock (the snapshot thread reads
// them); at most 256 bytes.
void Transaction::SetClientIp(std::string_view ip) {
  if (state_ == nullptr) return;
  std::lock_guard<internal::SpinLock> l(state_->lock);
  state_->client_ip = state_->texts.Replace(state_->client_ip, Cut(ip, 256));
}

void Transaction::SetUser(std::string_view user_id) {
  if (state_ == nullptr) return;
  std::lock_guard<internal::SpinLock> l(state_->lock);
  state_->user = state_->texts.Replace(state_->user, Cut(user_id, 256));
}

void Transaction::SetHttp(std::string_view method, std::string_view path) {
  if (state_ == nullptr) return;
  state_->http_method = state_->texts.Replace(state_->http_method, Cut(method, 32));
  state_->http_path = state_->texts.Replace(state_->http_path, Cut(path, state_->agent->options.max_text));
}

void Transaction::SetStatus(int http_status) {
  if (state_ == nullptr) return;
  state_->status = http_status;
  if (http_status >= 500) state_->error = true;
}

void Transaction::SetError(std::string_view type, std::string_view message,
                           std::string_view stack) {
  if (state_ == nullptr) return;
  const size_t max = state_->agent->options.max_text;
  state_->error = true;
  state_->error_type = state_->texts.Replace(state_->error_type, Cut(type, max));
  state_->error_message = state_->texts.Replace(state_->error_message, Cut(message, max));
  state_->error_stack = state_->texts.Replace(state_->error_stack, Cut(stack, max));
}

void Transaction::SetAttribute(std::string_view key, std::string_view value) {
  if (state_ == nullptr || key.empty()) return;
  const size_t max = state_->agent->options.max_text;
  for (auto& kv : state_->attributes) {
    if (kv.first == key) {
      kv.second = state_->texts.Replace(kv.second, Cut(value, max));
      return;
    }
  }
  if (state_->attributes.size() >= kMaxAttributes) return;
  state_->attributes.emplace_back(state_->texts.Copy(Cut(key, 256)),
                                  state_->texts.Copy(Cut(value, max)));
}

TraceContext Transaction::Context() const {
  TraceContext c;
  if (state_ == nullptr) return c;
  std::memcpy(c.trace_id, state_->trace_id, 16);
  c.sampled = state_->sampled;
  // The owning thread is the only writer of open_top and steps.
  const int32_t top = state_->open_top;
  std::memcpy(c.span_id, top >= 0 ? state_->steps[top].span_id : state_->span_id, 8);
  return c;
}

std::string Transaction::Traceparent() const {
  if (state_ == nullptr) return {};
  return FormatTraceparent(Context());
}

// ---------------------------------------------------------------------------
// Step

namespace {

// Starts a step on the calling thread's current transaction. `open` false
// records a point-in-time step (a message).
void StartStep(Step::Kind kind, std::string_view system, std::string_view text, bool open,
               uint32_t* index, Transaction::State** state) {
  Transaction::State* s = tls_current;
  *state = nullptr;
  *index = 0;
  if (s == nullptr) return;
  Agent::Impl* a = s->agent;
  if (s->steps.size() >= a->options.max_steps) {
    ++s->steps_dropped;
    a->steps_truncated.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const uint64_t now = internal::NowUnixNanos();
  const uint64_t span_id = internal::Random64();
  // Copied before the lock: arena blocks never move, and the snapshot thread
  // reads the texts only once open_top names this step.
  const std::string_view t = s->texts.Copy(Cut(text, a->options.max_text));
  const std::string_view sys = s->texts.Copy(Cut(system, 64));
  if (kind == Step::kMessage) ++s->messages;
  {
    // Built in place (no temporary record to move), in the State's inline
    // records for the first StepList::kInline steps.
    std::lock_guard<internal::SpinLock> l(s->lock);
    *index = static_cast<uint32_t>(s->steps.size());
    StepRecord& r = s->steps.emplace_back();
    r.kind = kind;
    r.open = open;
    r.parent = s->open_top;
    r.start_ns = now;
    if (!open) r.end_ns = now;
    std::memcpy(r.span_id, &span_id, 8);
    r.text = t;
    r.system = sys;
    if (open) s->open_top = static_cast<int32_t>(*index);
  }
  *state = s;
}

}  // namespace

Step Step::Method(std::string_view name) {
  if (name.empty()) return Step(nullptr, 0);
  uint32_t index;
  Transaction::State* s;
  StartStep(kMethod, {}, name, true, &index, &s);
  return Step(s, index);
}

Step Step::Sql(std::string_view db_system, std::string_view statement) {
  uint32_t index;
  Transaction::State* s;
  StartStep(kSql, db_system, statement, true, &index, &s);
  return Step(s, index);
}

Step Step::External(std::string_view method, std::string_view url) {
  uint32_t index;
  Transaction::State* s;
  StartStep(kExternal, method, url, true, &index, &s);
  return Step(s, index);
}

void Step::Message(std::string_view text) {
  uint32_t index;
  Transaction::State* s;
  StartStep(kMessage, {}, text, false, &index, &s);
}

Step::Step(Step&& other) noexcept : slot_(other.slot_), index_(other.index_) {
  other.slot_ = nullptr;
}

Step::~Step() { End(); }

namespace {

StepRecord* Record(void* slot, uint32_t index) {
  auto* s = static_cast<Transaction::State*>(slot);
  if (s == nullptr || !IsLive(s) || index >= s->steps.size()) return nullptr;
  return &s->steps[index];
}

}  // namespace

Step& Step::Bind(std::string_view value) {
  if (StepRecord* r = Record(slot_, index_); r != nullptr && r->nbinds < kMaxBinds) {
    // Only this thread reads binds before the transaction ends: no lock.
    auto* s = static_cast<Transaction::State*>(slot_);
    internal::BindRecord* b = s->texts.New<internal::BindRecord>();
    b->value = s->texts.Copy(Cut(value, s->agent->options.max_text));
    if (r->last_bind != nullptr) {
      r->last_bind->next = b;
    } else {
      r->first_bind = b;
    }
    r->last_bind = b;
    ++r->nbinds;
  }
  return *this;
}

Step& Step::Rows(int64_t rows, double fetch_ms) {
  if (StepRecord* r = Record(slot_, index_)) {
    r->rows = rows;
    r->fetch_ms = fetch_ms;
  }
  return *this;
}

Step& Step::HttpStatus(int status) {
  if (StepRecord* r = Record(slot_, index_)) {
    r->http_status = status;
    if (status >= 500) r->error = true;
  }
  return *this;
}

Step& Step::Error(std::string_view message) {
  if (StepRecord* r = Record(slot_, index_)) {
    auto* s = static_cast<Transaction::State*>(slot_);
    r->error = true;
    r->error_message = s->texts.Copy(Cut(message, s->agent->options.max_text));
  }
  return *this;
}

TraceContext Step::Context() const {
  TraceContext c;
  if (StepRecord* r = Record(slot_, index_)) {
    auto* s = static_cast<Transaction::State*>(slot_);
    std::memcpy(c.trace_id, s->trace_id, 16);
    std::memcpy(c.span_id, r->span_id, 8);
    c.sampled = s->sampled;
  }
  return c;
}

std::string Step::Traceparent() const {
  TraceContext c = Context();
  return c.valid() ? FormatTraceparent(c) : std::string();
}

void Step::End() {
  StepRecord* r = Record(slot_, index_);
  auto* s = static_cast<Transaction::State*>(slot_);
  slot_ = nullptr;
  if (r == nullptr || !r->open) return;
  const uint64_t now = internal::NowUnixNanos();
  std::lock_guard<internal::SpinLock> l(s->lock);
  r->end_ns = now;
  r->open = false;
  while (s->open_top >= 0 && !s->steps[s->open_top].open) {
    s->open_top = s->steps[s->open_top].parent;
  }
}

}  // namespace loupe
