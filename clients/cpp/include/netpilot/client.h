// netpilot C++ client: a thin wrapper over the generated netpilot.v1 stubs.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "netpilot/v1/agent.grpc.pb.h"
#include "netpilot/v1/manager.grpc.pb.h"
#include "netpilot/v1/session.grpc.pb.h"

namespace netpilot {

/// The daemon's standard Unix socket.
inline constexpr const char* kDefaultSocket = "/run/netpilot/netpilot.sock";

/// The gRPC target for a Unix socket path or a gRPC target string: a value with a '/' and
/// no scheme is a socket path ("unix:" is prepended), anything else is used as it is.
std::string ResolveTarget(const std::string& target);

/// The default target: the socket in $NETPILOT_SOCKET, else kDefaultSocket.
std::string DefaultTarget();

/// A failed call: the gRPC status plus the google.rpc.BadRequest field violations.
class Error : public std::runtime_error {
 public:
  explicit Error(const grpc::Status& status);
  /// The status code, e.g. grpc::StatusCode::INVALID_ARGUMENT.
  grpc::StatusCode code() const { return status_.error_code(); }
  /// The status message.
  const std::string& message() const { return message_; }
  /// Field path -> description, from the BadRequest detail; empty when there is none.
  const std::map<std::string, std::string>& field_violations() const { return violations_; }

 private:
  grpc::Status status_;
  std::string message_;
  std::map<std::string, std::string> violations_;
};

/// Decodes the field violations of a status's google.rpc.BadRequest detail.
std::map<std::string, std::string> FieldViolations(const grpc::Status& status);

/// An open session, read with a blocking Next(). The session lives as long as this object
/// (or until Cancel()). Safe to Cancel() from another thread while Next() blocks.
class Session {
 public:
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// The session id.
  const std::string& id() const { return id_; }
  /// Waits for the next update. The first has every field set, later ones only the fields
  /// that changed. Returns false when the stream has ended; see release() and status().
  bool Next(v1::SessionUpdate* update);
  /// The daemon's release, once Next() returned false after one.
  const std::optional<v1::SessionRelease>& release() const { return release_; }
  /// How the stream ended, once Next() returned false: OK after a release and a clean end.
  const grpc::Status& status() const { return status_; }
  /// Ends the stream, and with it the session.
  void Cancel() { context_.TryCancel(); }

 private:
  friend class Client;
  Session() = default;
  bool Open(v1::SessionService::Stub& stub, const v1::OpenSessionRequest& request);
  bool Finish();

  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::OpenSessionResponse>> reader_;
  std::string id_;
  std::optional<v1::SessionUpdate> first_;
  std::optional<v1::SessionRelease> release_;
  grpc::Status status_;
  bool done_ = false;
};

/// A connection to netpilotd. Calls throw netpilot::Error when they fail.
class Client {
 public:
  /// Connects to a Unix socket path or a gRPC target; by default DefaultTarget().
  /// Plaintext: the daemon offers it on its Unix socket and on loopback TCP only.
  explicit Client(const std::string& target = DefaultTarget());
  /// Uses an existing channel.
  explicit Client(std::shared_ptr<grpc::Channel> channel);
  /// Connects to a remote daemon at "host:port" over mutual TLS; the arguments are PEM
  /// file paths: the CA that signed the daemon's certificate, this client's certificate
  /// chain and its private key.
  static Client Remote(const std::string& host, const std::string& ca_file,
                       const std::string& cert_file, const std::string& key_file);
  /// The mutual-TLS credentials that Remote() uses.
  static std::shared_ptr<grpc::ChannelCredentials> MtlsCredentials(
      const std::string& ca_file, const std::string& cert_file, const std::string& key_file);

  /// The manager: overall state, offline mode, L4 connectivity.
  v1::Manager GetManager();
  /// All services in service order, the preferred first.
  std::vector<v1::Service> Services();
  /// Open sessions with their owners, oldest first.
  std::vector<v1::SessionInfo> ListSessions();
  /// Opens a session allowing `allowed_bearers` ("ethernet", "wifi", "bluetooth",
  /// "cellular", "*"; empty: any) in order of preference, with the given connection type
  /// (CONNECTION_TYPE_UNSPECIFIED: any). A non-zero timeout bounds the whole stream.
  /// Invalid settings throw Error (INVALID_ARGUMENT).
  std::unique_ptr<Session> OpenSession(
      const std::vector<std::string>& allowed_bearers, v1::ConnectionType connection_type,
      std::chrono::milliseconds timeout = std::chrono::milliseconds::zero());

  /// The generated stubs, for calls that have no wrapper here.
  v1::ManagerService::Stub& manager() { return *manager_; }
  v1::SessionService::Stub& sessions() { return *sessions_; }
  v1::AgentService::Stub& agent() { return *agent_; }
  /// The channel.
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ManagerService::Stub> manager_;
  std::unique_ptr<v1::SessionService::Stub> sessions_;
  std::unique_ptr<v1::AgentService::Stub> agent_;
};

}  // namespace netpilot
