// Links the installed loupe::agent and records one transaction with a step
// (to an endpoint where nothing listens: the agent must not care).
#include <cstdio>

#include "loupe/agent.h"

int main() {
  loupe::AgentOptions o;
  o.service = "consumer";
  o.endpoint = "http://127.0.0.1:9";  // discard port: nothing listens
  o.loupe_extensions = false;
  loupe::Agent agent(o);
  {
    loupe::Transaction tx(agent, "GET /hello");
    loupe::Step s = loupe::Step::Sql("sqlite", "SELECT 1");
    s.Rows(1);
    tx.SetStatus(200);
  }
  agent.Shutdown(100);
  const loupe::AgentStats st = agent.stats();
  std::printf("transactions=%llu\n", static_cast<unsigned long long>(st.transactions));
  return st.transactions == 1 ? 0 : 1;
}
