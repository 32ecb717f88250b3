#include "auth/registry.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "rapidjson/document.h"
#include "rapidjson/prettywriter.h"
#include "rapidjson/stringbuffer.h"

namespace loupe::auth {
namespace {

constexpr char kAuthFile[] = "auth.json";
constexpr char kCredentialsFile[] = "initial-credentials.json";

// Writes data to path atomically (temp file + fsync + rename) with mode 0600.
Status WriteFileAtomic(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IoError("creating " + tmp + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return Status::IoError("writing " + tmp + ": " + std::strerror(e));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    return Status::IoError("syncing " + tmp + ": " + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::IoError("renaming " + tmp + ": " + std::strerror(errno));
  }
  return Status::OK();
}

bool ValidProjectName(std::string_view n) {
  if (n.empty() || n.size() > 64) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

}  // namespace

bool Principal::CanSee(ProjectId p) const {
  return admin || std::find(projects.begin(), projects.end(), p) != projects.end();
}

std::string NewSecret(std::string_view prefix) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";  // 62 symbols
  std::string s(prefix);
  unsigned char buf[64];
  size_t produced = 0;
  while (produced < 32) {
    if (RAND_bytes(buf, sizeof buf) != 1) std::abort();  // no entropy: refuse to mint keys
    for (unsigned char b : buf) {
      if (b >= 248) continue;  // 248 = 4 * 62: rejection keeps symbols uniform
      s.push_back(kAlphabet[b % 62]);
      if (++produced == 32) break;
    }
  }
  return s;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

Result<std::unique_ptr<Registry>> Registry::Open(const std::string& data_dir,
                                                 InitialCredentials* created) {
  std::unique_ptr<Registry> r(new Registry());
  r->dir_ = data_dir;
  if (!data_dir.empty()) {
    std::string path = data_dir + "/" + kAuthFile;
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) {
      Status s = r->Load();
      if (!s.ok()) return s.Annotate("loading " + path);
      return r;
    }
  }
  // First start: project "default", one ingest key, one admin token.
  std::string key, token;
  {
    std::lock_guard<std::mutex> l(r->mu_);
    r->projects_.push_back(Project{1, "default"});
    key = NewSecret("lk_");
    token = NewSecret("lt_");
    r->ingest_keys_[Sha256Hex(key)] = 1;
    r->tokens_[Sha256Hex(token)] = TokenEntry{"admin", true, {}};
    if (!data_dir.empty()) {
      rapidjson::StringBuffer sb;
      rapidjson::PrettyWriter<rapidjson::StringBuffer> w(sb);
      w.StartObject();
      w.Key("project");
      w.String("default");
      w.Key("ingest_key");
      w.String(key.c_str());
      w.Key("api_token");
      w.String(token.c_str());
      w.EndObject();
      std::string creds = std::string(sb.GetString()) + "\n";
      LOUPE_RETURN_IF_ERROR(WriteFileAtomic(data_dir + "/" + kCredentialsFile, creds));
      LOUPE_RETURN_IF_ERROR(r->Save());
    }
  }
  if (created) *created = InitialCredentials{"default", key, token};
  return r;
}

Status Registry::Load() {
  std::ifstream in(dir_ + "/" + kAuthFile);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  rapidjson::Document d;
  d.Parse(text.c_str());
  if (d.HasParseError() || !d.IsObject()) return Status::Corruption("not a JSON object");
  std::lock_guard<std::mutex> l(mu_);
  if (d.HasMember("projects") && d["projects"].IsArray()) {
    for (const auto& p : d["projects"].GetArray()) {
      if (!p.IsObject() || !p.HasMember("id") || !p["id"].IsUint() || !p.HasMember("name") ||
          !p["name"].IsString()) {
        return Status::Corruption("bad project entry");
      }
      ProjectId id = p["id"].GetUint();
      Project& proj = projects_.emplace_back(Project{id, p["name"].GetString()});
      // Absent in files written before retention existed: the defaults.
      if (p.HasMember("retention_days") && p["retention_days"].IsInt()) {
        proj.retention_days = p["retention_days"].GetInt();
      }
      if (p.HasMember("rollup_retention_days") && p["rollup_retention_days"].IsInt()) {
        proj.rollup_retention_days = p["rollup_retention_days"].GetInt();
      }
      if (p.HasMember("ingest_keys") && p["ingest_keys"].IsArray()) {
        for (const auto& k : p["ingest_keys"].GetArray()) {
          if (k.IsString()) ingest_keys_[k.GetString()] = id;
        }
      }
    }
  }
  if (d.HasMember("tokens") && d["tokens"].IsArray()) {
    for (const auto& t : d["tokens"].GetArray()) {
      if (!t.IsObject() || !t.HasMember("sha256") || !t["sha256"].IsString()) {
        return Status::Corruption("bad token entry");
      }
      TokenEntry e;
      if (t.HasMember("name") && t["name"].IsString()) e.name = t["name"].GetString();
      e.admin = t.HasMember("admin") && t["admin"].IsBool() && t["admin"].GetBool();
      if (t.HasMember("projects") && t["projects"].IsArray()) {
        for (const auto& p : t["projects"].GetArray()) {
          if (p.IsUint()) e.projects.push_back(p.GetUint());
        }
      }
      tokens_[t["sha256"].GetString()] = std::move(e);
    }
  }
  return Status::OK();
}

Status Registry::Save() const {
  if (dir_.empty()) return Status::OK();
  rapidjson::StringBuffer sb;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("projects");
  w.StartArray();
  for (const Project& p : projects_) {
    w.StartObject();
    w.Key("id");
    w.Uint(p.id);
    w.Key("name");
    w.String(p.name.c_str());
    w.Key("retention_days");
    w.Int(p.retention_days);
    w.Key("rollup_retention_days");
    w.Int(p.rollup_retention_days);
    w.Key("ingest_keys");
    w.StartArray();
    for (const auto& [hash, pid] : ingest_keys_) {
      if (pid == p.id) w.String(hash.c_str());
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.Key("tokens");
  w.StartArray();
  for (const auto& [hash, e] : tokens_) {
    w.StartObject();
    w.Key("sha256");
    w.String(hash.c_str());
    w.Key("name");
    w.String(e.name.c_str());
    w.Key("admin");
    w.Bool(e.admin);
    w.Key("projects");
    w.StartArray();
    for (ProjectId p : e.projects) w.Uint(p);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return WriteFileAtomic(dir_ + "/" + kAuthFile, std::string(sb.GetString()) + "\n");
}

Result<ProjectId> Registry::AuthenticateIngestKey(std::string_view key) const {
  if (key.empty()) return Status::Unauthenticated("missing ingest key");
  std::string h = Sha256Hex(key);
  std::lock_guard<std::mutex> l(mu_);
  auto it = ingest_keys_.find(h);
  if (it == ingest_keys_.end()) return Status::Unauthenticated("unknown ingest key");
  return it->second;
}

Result<Principal> Registry::AuthenticateToken(std::string_view token) const {
  if (token.empty()) return Status::Unauthenticated("missing API token");
  std::string h = Sha256Hex(token);
  std::lock_guard<std::mutex> l(mu_);
  auto it = tokens_.find(h);
  if (it == tokens_.end()) return Status::Unauthenticated("unknown API token");
  return Principal{it->second.name, it->second.admin, it->second.projects};
}

Result<Project> Registry::FindProject(const Principal& who, std::string_view name) const {
  std::lock_guard<std::mutex> l(mu_);
  for (const Project& p : projects_) {
    if (p.name == name && who.CanSee(p.id)) return p;
  }
  return Status::NotFound("no project named '" + std::string(name) + "'");
}

std::vector<Project> Registry::ListProjects(const Principal& who) const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<Project> out;
  for (const Project& p : projects_) {
    if (who.CanSee(p.id)) out.push_back(p);
  }
  return out;
}

std::vector<Project> Registry::AllProjects() const {
  std::lock_guard<std::mutex> l(mu_);
  return projects_;
}

Result<std::string> Registry::CreateProject(std::string_view name, ProjectId* id) {
  if (!ValidProjectName(name)) {
    return Status::InvalidArgument("project names are 1-64 characters of a-z, 0-9, '-', '_'");
  }
  std::lock_guard<std::mutex> l(mu_);
  ProjectId next = 1;
  for (const Project& p : projects_) {
    if (p.name == name) return Status::AlreadyExists("project exists");
    next = std::max(next, p.id + 1);
  }
  projects_.push_back(Project{next, std::string(name)});
  std::string key = NewSecret("lk_");
  ingest_keys_[Sha256Hex(key)] = next;
  Status s = Save();
  if (!s.ok()) return s;
  if (id) *id = next;
  return key;
}

Result<Project> Registry::SetRetention(ProjectId id, int retention_days,
                                       int rollup_retention_days) {
  if (retention_days < 1 || retention_days > kMaxRetentionDays || rollup_retention_days < 1 ||
      rollup_retention_days > kMaxRetentionDays) {
    return Status::InvalidArgument("retention is 1 to " + std::to_string(kMaxRetentionDays) +
                                   " days");
  }
  if (rollup_retention_days < retention_days) {
    return Status::InvalidArgument(
        "rollup_retention_days must be at least retention_days (rollups summarize the "
        "transactions)");
  }
  std::lock_guard<std::mutex> l(mu_);
  for (Project& p : projects_) {
    if (p.id != id) continue;
    const Project before = p;
    p.retention_days = retention_days;
    p.rollup_retention_days = rollup_retention_days;
    Status s = Save();
    if (!s.ok()) {
      p = before;
      return s;
    }
    return p;
  }
  return Status::NotFound("no project with id " + std::to_string(id));
}

Result<std::string> Registry::CreateToken(std::string_view name, bool admin,
                                          std::vector<ProjectId> projects) {
  std::string token = NewSecret("lt_");
  std::lock_guard<std::mutex> l(mu_);
  tokens_[Sha256Hex(token)] = TokenEntry{std::string(name), admin, std::move(projects)};
  Status s = Save();
  if (!s.ok()) return s;
  return token;
}

}  // namespace loupe::auth
