#include "auth/registry.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace loupe::auth {
namespace {

std::string TempDir() {
  char tmpl[] = "/tmp/loupe-auth-XXXXXX";
  return ::mkdtemp(tmpl);
}

TEST(Registry, FirstOpenCreatesDefaultProjectAndCredentialsFile) {
  std::string dir = TempDir();
  InitialCredentials creds;
  auto r = Registry::Open(dir, &creds);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(creds.project, "default");
  EXPECT_EQ(creds.ingest_key.rfind("lk_", 0), 0u);
  EXPECT_EQ(creds.api_token.rfind("lt_", 0), 0u);
  EXPECT_EQ(creds.ingest_key.size(), 35u);

  struct stat st;
  ASSERT_EQ(::stat((dir + "/initial-credentials.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::ifstream in(dir + "/initial-credentials.json");
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_NE(ss.str().find(creds.api_token), std::string::npos);

  // The registry file holds hashes only.
  std::ifstream a(dir + "/auth.json");
  std::stringstream as;
  as << a.rdbuf();
  EXPECT_EQ(as.str().find(creds.api_token), std::string::npos);
  EXPECT_EQ(as.str().find(creds.ingest_key), std::string::npos);

  auto p = (*r)->AuthenticateIngestKey(creds.ingest_key);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, 1u);
  auto who = (*r)->AuthenticateToken(creds.api_token);
  ASSERT_TRUE(who.ok());
  EXPECT_TRUE(who->admin);
}

TEST(Registry, ReopenKeepsKeysAndDoesNotCreateNewCredentials) {
  std::string dir = TempDir();
  InitialCredentials creds;
  ASSERT_TRUE(Registry::Open(dir, &creds).ok());
  InitialCredentials again;
  auto r = Registry::Open(dir, &again);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(again.api_token.empty());
  EXPECT_TRUE((*r)->AuthenticateToken(creds.api_token).ok());
  EXPECT_TRUE((*r)->AuthenticateIngestKey(creds.ingest_key).ok());
}

TEST(Registry, WrongOrMissingSecretsAreUnauthenticated) {
  auto r = Registry::Open("");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->AuthenticateIngestKey("").status().code(), Status::Code::kUnauthenticated);
  EXPECT_EQ((*r)->AuthenticateIngestKey("lk_nope").status().code(),
            Status::Code::kUnauthenticated);
  EXPECT_EQ((*r)->AuthenticateToken("lt_nope").status().code(), Status::Code::kUnauthenticated);
}

TEST(Registry, TokenSeesOnlyGrantedProjects) {
  std::string dir = TempDir();
  auto r = Registry::Open(dir);
  ASSERT_TRUE(r.ok());
  ProjectId shop = 0;
  auto key = (*r)->CreateProject("shop", &shop);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(*(*r)->AuthenticateIngestKey(*key), shop);
  auto tok = (*r)->CreateToken("shop-team", false, {shop});
  ASSERT_TRUE(tok.ok());
  auto who = (*r)->AuthenticateToken(*tok);
  ASSERT_TRUE(who.ok());
  EXPECT_TRUE((*r)->FindProject(*who, "shop").ok());
  EXPECT_EQ((*r)->FindProject(*who, "default").status().code(), Status::Code::kNotFound);
  ASSERT_EQ((*r)->ListProjects(*who).size(), 1u);

  // Survives reopen.
  auto r2 = Registry::Open(dir);
  ASSERT_TRUE(r2.ok());
  auto who2 = (*r2)->AuthenticateToken(*tok);
  ASSERT_TRUE(who2.ok());
  EXPECT_TRUE((*r2)->FindProject(*who2, "shop").ok());
  EXPECT_FALSE((*r2)->FindProject(*who2, "default").ok());
}

TEST(Registry, RejectsBadProjectNames) {
  auto r = Registry::Open("");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE((*r)->CreateProject("").ok());
  EXPECT_FALSE((*r)->CreateProject("Bad Name").ok());
  EXPECT_FALSE((*r)->CreateProject("default").ok());
}

TEST(NewSecret, IsRandomAndAlphanumeric) {
  std::string a = NewSecret("lk_"), b = NewSecret("lk_");
  EXPECT_NE(a, b);
  for (char c : a.substr(3)) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)));
}

}  // namespace
TEST(Registry, RetentionDefaultsAreValidatedAndSurviveReopen) {
  std::string dir = TempDir();
  {
    auto r = Registry::Open(dir);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    auto all = (*r)->AllProjects();
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].retention_days, 31);
    EXPECT_EQ(all[0].rollup_retention_days, 400);
    EXPECT_EQ((*r)->SetRetention(all[0].id, 0, 400).status().code(),
              Status::Code::kInvalidArgument);
    EXPECT_EQ((*r)->SetRetention(all[0].id, 3651, 3651).status().code(),
              Status::Code::kInvalidArgument);
    EXPECT_EQ((*r)->SetRetention(all[0].id, 40, 30).status().code(),
              Status::Code::kInvalidArgument);
    EXPECT_EQ((*r)->SetRetention(999, 7, 30).status().code(), Status::Code::kNotFound);
    auto set = (*r)->SetRetention(all[0].id, 7, 90);
    ASSERT_TRUE(set.ok()) << set.status().ToString();
    EXPECT_EQ(set->retention_days, 7);
    EXPECT_EQ(set->rollup_retention_days, 90);
    // A failed validation left the stored value alone.
    EXPECT_EQ((*r)->AllProjects()[0].retention_days, 7);
  }
  auto r = Registry::Open(dir);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto all = (*r)->AllProjects();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].retention_days, 7);
  EXPECT_EQ(all[0].rollup_retention_days, 90);
}

}  // namespace loupe::auth
