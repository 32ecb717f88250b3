// The dashboard's static files. A single-page app: paths without a file
// extension get index.html. Paths are confined to the web root: segments
// "..", "." and dot-files are refused, and the resolved real path (symlinks
// followed) must lie under the root's real path.
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "api/api_internal.h"

namespace loupe::api::internal {
namespace {

constexpr off_t kMaxStaticFileBytes = 64 << 20;

struct TypeEntry {
  std::string_view ext;
  std::string_view type;
};
constexpr TypeEntry kTypes[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"json", "application/json; charset=utf-8"},
    {"map", "application/json; charset=utf-8"},
    {"webmanifest", "application/manifest+json"},
    {"txt", "text/plain; charset=utf-8"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"ico", "image/x-icon"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"wasm", "application/wasm"},
};

bool SafeSegments(std::string_view path) {
  // path starts with '/'.
  size_t i = 1;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view seg = path.substr(i, j - i);
    if (!seg.empty() && seg[0] == '.') return false;  // "..", "." and dot-files
    i = j + 1;
  }
  return path.find('\\') == std::string_view::npos && path.find('\0') == std::string_view::npos;
}

bool HasExtension(std::string_view path) {
  std::string_view last = path.substr(path.rfind('/') + 1);
  return last.find('.') != std::string_view::npos;
}

bool ReadFile(const std::string& path, std::string* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= kMaxStaticFileBytes;
  if (ok) {
    out->resize(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < out->size()) {
      ssize_t n = ::read(fd, out->data() + done, out->size() - done);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        break;
      }
      done += static_cast<size_t>(n);
    }
    out->resize(done);
  }
  ::close(fd);
  return ok;
}

}  // namespace

std::string_view ContentTypeFor(std::string_view filename) {
  size_t dot = filename.rfind('.');
  if (dot == std::string_view::npos) return "application/octet-stream";
  std::string ext(filename.substr(dot + 1));
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& t : kTypes) {
    if (t.ext == ext) return t.type;
  }
  return "application/octet-stream";
}

void ServeStatic(const std::string& web_root, const net::HttpRequest& req,
                 net::HttpResponse* resp) {
  if (web_root.empty()) return SetError(resp, 404, "not_found", "no dashboard files installed");
  std::string_view path = req.path;
  if (path.empty() || path[0] != '/' || !SafeSegments(path)) {
    return SetError(resp, 404, "not_found", "not found");
  }
  std::string rel(path);
  if (rel.back() == '/' || !HasExtension(rel)) rel = "/index.html";
  const std::string candidate = web_root + rel;
  char resolved[PATH_MAX];
  if (::realpath(candidate.c_str(), resolved) == nullptr) {
    return SetError(resp, 404, "not_found", "not found");
  }
  std::string_view real(resolved);
  if (real.size() <= web_root.size() || real.substr(0, web_root.size()) != web_root ||
      real[web_root.size()] != '/') {
    return SetError(resp, 404, "not_found", "not found");
  }
  std::string body;
  if (!ReadFile(resolved, &body)) return SetError(resp, 404, "not_found", "not found");
  resp->status = 200;
  resp->content_type = std::string(ContentTypeFor(real));
  resp->body = std::move(body);
  // Vite puts content-hashed bundles under /assets/: cache them for good;
  // everything else (index.html above all) is revalidated.
  const bool hashed = rel.rfind("/assets/", 0) == 0;
  resp->headers.emplace_back("Cache-Control",
                             hashed ? "public, max-age=31536000, immutable" : "no-cache");
}

}  // namespace loupe::api::internal
