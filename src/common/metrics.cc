#include "common/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace loupe {
namespace {

void AppendEscapedLabelValue(std::string_view v, std::string* out) {
  for (char c : v) {
    if (c == '\\') out->append("\\\\");
    else if (c == '"') out->append("\\\"");
    else if (c == '\n') out->append("\\n");
    else out->push_back(c);
  }
}

std::string RenderLabels(const Labels& labels) {
  if (labels.empty()) return "";
  std::string s = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) s.push_back(',');
    s += labels[i].first;
    s += "=\"";
    AppendEscapedLabelValue(labels[i].second, &s);
    s.push_back('"');
  }
  s.push_back('}');
  return s;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.17g", v);
  }
  return buf;
}

// Inserts extra label into a rendered label set: {a="b"} + le="1" -> {a="b",le="1"}.
std::string WithLabel(const std::string& rendered, const std::string& extra) {
  if (rendered.empty()) return "{" + extra + "}";
  return rendered.substr(0, rendered.size() - 1) + "," + extra + "}";
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  std::sort(bounds_.begin(), bounds_.end());
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double v) noexcept {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.Add(v);
}

void Histogram::Snapshot(std::vector<uint64_t>* cumulative, double* sum, uint64_t* count) const {
  cumulative->clear();
  uint64_t acc = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    acc += buckets_[i].load(std::memory_order_relaxed);
    cumulative->push_back(acc);
  }
  *sum = sum_.value();
  *count = acc;
}

MetricsRegistry::Family* MetricsRegistry::GetFamily(std::string_view name, std::string_view help,
                                                    const char* type) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{}).first;
    it->second.help = std::string(help);
    it->second.type = type;
  }
  return &it->second;
}

Counter* MetricsRegistry::GetCounter(std::string_view name, std::string_view help,
                                     const Labels& labels) {
  std::lock_guard<std::mutex> l(mu_);
  auto& slot = GetFamily(name, help, "counter")->counters[RenderLabels(labels)];
  if (!slot) slot = std::make_unique<Counter>();
  return slot.get();
}

Gauge* MetricsRegistry::GetGauge(std::string_view name, std::string_view help,
                                 const Labels& labels) {
  std::lock_guard<std::mutex> l(mu_);
  auto& slot = GetFamily(name, help, "gauge")->gauges[RenderLabels(labels)];
  if (!slot) slot = std::make_unique<Gauge>();
  return slot.get();
}

Histogram* MetricsRegistry::GetHistogram(std::string_view name, std::string_view help,
                                         std::vector<double> bounds, const Labels& labels) {
  std::lock_guard<std::mutex> l(mu_);
  auto& slot = GetFamily(name, help, "histogram")->histograms[RenderLabels(labels)];
  if (!slot) slot = std::make_unique<Histogram>(std::move(bounds));
  return slot.get();
}

void MetricsRegistry::AddCallback(std::string_view name, std::string_view help,
                                  std::function<std::vector<std::pair<Labels, double>>()> fn) {
  std::lock_guard<std::mutex> l(mu_);
  GetFamily(name, help, "gauge")->callbacks.push_back(std::move(fn));
}

void MetricsRegistry::AddCounterCallback(
    std::string_view name, std::string_view help,
    std::function<std::vector<std::pair<Labels, double>>()> fn) {
  std::lock_guard<std::mutex> l(mu_);
  GetFamily(name, help, "counter")->callbacks.push_back(std::move(fn));
}

std::string MetricsRegistry::Render() const {
  std::lock_guard<std::mutex> l(mu_);
  std::string out;
  std::vector<uint64_t> cum;
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " " + f.help + "\n";
    out += "# TYPE " + name + " " + f.type + "\n";
    for (const auto& [labels, c] : f.counters) {
      out += name + labels + " " + FormatValue(static_cast<double>(c->value())) + "\n";
    }
    for (const auto& [labels, g] : f.gauges) {
      out += name + labels + " " + FormatValue(g->value()) + "\n";
    }
    for (const auto& fn : f.callbacks) {
      for (const auto& [labels, v] : fn()) {
        out += name + RenderLabels(labels) + " " + FormatValue(v) + "\n";
      }
    }
    for (const auto& [labels, h] : f.histograms) {
      double sum;
      uint64_t count;
      h->Snapshot(&cum, &sum, &count);
      for (size_t i = 0; i < h->bounds().size(); ++i) {
        out += name + "_bucket" + WithLabel(labels, "le=\"" + FormatValue(h->bounds()[i]) + "\"") +
               " " + std::to_string(cum[i]) + "\n";
      }
      out += name + "_bucket" + WithLabel(labels, "le=\"+Inf\"") + " " + std::to_string(count) +
             "\n";
      out += name + "_sum" + labels + " " + FormatValue(sum) + "\n";
      out += name + "_count" + labels + " " + std::to_string(count) + "\n";
    }
  }
  return out;
}

MetricsRegistry* MetricsRegistry::Default() {
  static MetricsRegistry* r = new MetricsRegistry();
  return r;
}

}  // namespace loupe
