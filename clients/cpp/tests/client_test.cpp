// Unit tests (Unit.*) and the clients' shared scenario against a real netpilotd (Daemon.*,
// run under clients/testbed.sh). The Daemon tests run in order; the last stops the daemon.
#include <signal.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include <google/protobuf/any.pb.h>
#include <gtest/gtest.h>

#include <netpilot/client.h>

namespace {

using namespace std::chrono_literals;
namespace v1 = netpilot::v1;

constexpr auto kDeadline = 15s;
const char* const kBadField = "settings.allowed_bearers.bearers[0]";

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Appends a length-delimited field to a hand-encoded message.
void Put(std::string* out, int number, const std::string& value) {
  out->push_back(static_cast<char>(number << 3 | 2));
  out->push_back(static_cast<char>(value.size()));
  *out += value;
}

TEST(Unit, ResolveTarget) {
  EXPECT_EQ(netpilot::ResolveTarget("/a/b.sock"), "unix:/a/b.sock");
  EXPECT_EQ(netpilot::ResolveTarget("unix:/a/b.sock"), "unix:/a/b.sock");
  EXPECT_EQ(netpilot::ResolveTarget("127.0.0.1:50051"), "127.0.0.1:50051");
  EXPECT_EQ(netpilot::ResolveTarget("dns:///robot.example:443"), "dns:///robot.example:443");
}

TEST(Unit, FieldViolationsFromStatusDetails) {
  std::string violation, bad_request, status;
  Put(&violation, 1, "settings.x");
  Put(&violation, 2, "unknown");
  Put(&bad_request, 1, violation);
  google::protobuf::Any any;
  any.set_type_url("type.googleapis.com/google.rpc.BadRequest");
  any.set_value(bad_request);
  Put(&status, 3, any.SerializeAsString());
  netpilot::Error e(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad", status));
  EXPECT_EQ(e.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(e.field_violations(), (std::map<std::string, std::string>{{"settings.x", "unknown"}}));
  EXPECT_TRUE(netpilot::FieldViolations(grpc::Status::CANCELLED).empty());
}

TEST(Unit, MtlsCredentialsReadTheFiles) {
  EXPECT_THROW(netpilot::Client::MtlsCredentials("/nonexistent/ca.pem", "c", "k"),
               std::runtime_error);
  std::string dir = testing::TempDir();
  for (const char* name : {"ca.pem", "cert.pem", "key.pem"}) std::ofstream(dir + name) << "PEM";
  EXPECT_NE(netpilot::Client::MtlsCredentials(dir + "ca.pem", dir + "cert.pem", dir + "key.pem"),
            nullptr);
}

TEST(Unit, ReadmeExampleIsExamplesState) {
  std::string readme = Slurp(NETPILOT_README);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(readme, m, std::regex("```cpp\n([^`]*)```")));
  EXPECT_EQ(m[1].str(), Slurp(NETPILOT_EXAMPLE_SOURCE));
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    ADD_FAILURE() << name << " is not set: run through clients/testbed.sh (make clients-test)";
    return "";
  }
  return v;
}

void Shell(const std::string& command) { ASSERT_EQ(std::system(command.c_str()), 0) << command; }

std::string Output(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  std::array<char, 256> buf{};
  while (p != nullptr && std::fgets(buf.data(), buf.size(), p) != nullptr) out += buf.data();
  EXPECT_EQ(p != nullptr ? pclose(p) : -1, 0) << command;
  return out;
}

// Names of the fields an update sets, in field-number order.
std::vector<std::string> SetFields(const v1::SessionUpdate& u) {
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  u.GetReflection()->ListFields(u, &fields);
  std::vector<std::string> names;
  for (const auto* f : fields) names.push_back(f->name());
  return names;
}

// Session::Next() with a deadline: a watchdog cancels the stream when nothing came within
// kDeadline, so a missing update fails the test (Next() returns false, status CANCELLED)
// instead of blocking it. Sets *timed_out when that happened.
bool NextWithin(netpilot::Session& session, v1::SessionUpdate* update, bool* timed_out) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  *timed_out = false;
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock(mu);
    if (!cv.wait_for(lock, kDeadline, [&] { return done; })) {
      *timed_out = true;
      session.Cancel();
    }
  });
  bool got = session.Next(update);
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_one();
  watchdog.join();
  return got;
}

// The next update, within kDeadline (see NextWithin).
#define ASSERT_NEXT(session, update)                                                   \
  do {                                                                                 \
    bool timed_out_ = false;                                                           \
    ASSERT_TRUE(NextWithin(*(session), (update), &timed_out_))                         \
        << (timed_out_ ? "no session update within the deadline"                       \
                       : "the session ended: " + (session)->status().error_message()); \
  } while (0)

template <typename F>
void Eventually(const std::string& what, F check) {
  auto end = std::chrono::steady_clock::now() + kDeadline;
  while (!check()) {
    ASSERT_LT(std::chrono::steady_clock::now(), end) << what;
    std::this_thread::sleep_for(50ms);
  }
}

TEST(Daemon, ServicesOverTheUnixSocket) {
  netpilot::Client client(Env("NETPILOT_SOCKET"));
  auto services = client.Services();
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(services[0].ethernet().interface(), "veth0");
  EXPECT_EQ(services[0].name(), "Wired");
}

TEST(Daemon, ReadmeExample) {
  std::string out = Output("timeout 15 " NETPILOT_EXAMPLE_STATE);
  EXPECT_TRUE(std::regex_match(out, std::regex("ethernet_\\w+_cable SERVICE_STATE_\\w+ veth0\n")))
      << out;
}

TEST(Daemon, InvalidSettingsNameTheField) {
  netpilot::Client client;
  try {
    client.OpenSession({"wimax"}, v1::CONNECTION_TYPE_LOCAL, kDeadline);
    FAIL() << "a session with an unknown bearer opened";
  } catch (const netpilot::Error& e) {
    EXPECT_EQ(e.code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(e.field_violations().count(kBadField), 1u) << e.what();
    EXPECT_NE(e.message().find(kBadField), std::string::npos) << e.message();
  }
  EXPECT_TRUE(client.ListSessions().empty());
}

TEST(Daemon, ADroppedStreamEndsTheSession) {
  netpilot::Client client;
  auto session = client.OpenSession({"ethernet"}, v1::CONNECTION_TYPE_LOCAL, kDeadline);
  auto listed = client.ListSessions();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].session_id(), session->id());
  session.reset();
  Eventually("the session is gone", [&] { return client.ListSessions().empty(); });
}

// A real TLS handshake with the daemon's mTLS listener (certificates from `netpilot certs`):
// the admin reads and changes, the viewer reads and is refused a change naming the role, a
// certificate from another CA is not served.
TEST(Daemon, MutualTlsWithTheRealDaemon) {
  std::string addr = Env("NETPILOT_TLS_ADDR"), ca = Env("NETPILOT_TLS_CA");
  auto admin = netpilot::Client::Remote(addr, ca, Env("NETPILOT_TLS_ADMIN_CERT"),
                                        Env("NETPILOT_TLS_ADMIN_KEY"));
  EXPECT_NO_THROW(admin.GetManager());
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kDeadline);
    v1::UpdateManagerRequest req;
    req.set_offline_mode(false);
    v1::UpdateManagerResponse resp;
    grpc::Status st = admin.manager().UpdateManager(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
  }
  auto viewer = netpilot::Client::Remote(addr, ca, Env("NETPILOT_TLS_VIEWER_CERT"),
                                         Env("NETPILOT_TLS_VIEWER_KEY"));
  EXPECT_NO_THROW(viewer.GetManager());
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kDeadline);
    v1::UpdateManagerRequest req;
    req.set_offline_mode(true);
    v1::UpdateManagerResponse resp;
    grpc::Status st = viewer.manager().UpdateManager(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_NE(st.error_message().find("needs role admin"), std::string::npos) << st.error_message();
  }
  auto intruder = netpilot::Client::Remote(addr, ca, Env("NETPILOT_TLS_INTRUDER_CERT"),
                                           Env("NETPILOT_TLS_INTRUDER_KEY"));
  EXPECT_ANY_THROW(intruder.GetManager());
}

TEST(Daemon, SessionFollowsTheLinkUntilShutdown) {
  std::string ns = Env("NETPILOT_TEST_NS"), peer_ns = Env("NETPILOT_TEST_PEER_NS");
  pid_t pid = std::atoi(Env("NETPILOTD_PID").c_str());
  ASSERT_GT(pid, 0);
  netpilot::Client client;
  auto session = client.OpenSession({"ethernet"}, v1::CONNECTION_TYPE_LOCAL, 60s);
  v1::SessionUpdate u;
  ASSERT_NEXT(session, &u);
  EXPECT_EQ(SetFields(u).size(), static_cast<size_t>(u.GetDescriptor()->field_count()))
      << u.DebugString();
  EXPECT_EQ(u.state(), v1::SESSION_STATE_DISCONNECTED);
  ASSERT_EQ(u.allowed_bearers().bearers_size(), 1);
  EXPECT_EQ(u.allowed_bearers().bearers(0), "ethernet");
  EXPECT_EQ(u.connection_type(), v1::CONNECTION_TYPE_LOCAL);

  Shell("ip -n " + ns + " addr add 198.18.6.2/24 dev veth0");
  ASSERT_NEXT(session, &u);
  EXPECT_EQ(SetFields(u), (std::vector<std::string>{"state", "name", "bearer", "interface",
                                                    "service_id", "ipv4"}));
  EXPECT_EQ(u.state(), v1::SESSION_STATE_CONNECTED);
  EXPECT_EQ(u.name(), "Wired");
  EXPECT_EQ(u.bearer(), "ethernet");
  EXPECT_EQ(u.interface(), "veth0");
  EXPECT_EQ(u.service_id().rfind("ethernet_", 0), 0u);
  EXPECT_EQ(u.ipv4().address(), "198.18.6.2");

  Shell("ip -n " + peer_ns + " link set peer0 down");
  ASSERT_NEXT(session, &u);
  EXPECT_EQ(u.state(), v1::SESSION_STATE_DISCONNECTED);

  ASSERT_EQ(kill(pid, SIGTERM), 0);
  bool timed_out = false;
  EXPECT_FALSE(NextWithin(*session, &u, &timed_out)) << "update after SIGTERM: " << u.DebugString();
  EXPECT_FALSE(timed_out) << "the stream did not end within the deadline after SIGTERM";
  EXPECT_TRUE(session->status().ok()) << session->status().error_message();
  ASSERT_TRUE(session->release().has_value());
  EXPECT_EQ(session->release()->reason(), "shutdown");
}

}  // namespace
