#include "netpilot/client.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <google/protobuf/any.pb.h>
#include <google/protobuf/unknown_field_set.h>

namespace netpilot {
namespace {

using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("netpilot: cannot read " + path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The string fields with this number in a message parsed without its schema.
std::vector<std::string> Strings(const UnknownFieldSet& fields, int number) {
  std::vector<std::string> out;
  for (int i = 0; i < fields.field_count(); ++i) {
    const UnknownField& f = fields.field(i);
    if (f.number() == number && f.type() == UnknownField::TYPE_LENGTH_DELIMITED) {
      out.push_back(f.length_delimited());
    }
  }
  return out;
}

void Check(const grpc::Status& status) {
  if (!status.ok()) throw Error(status);
}

}  // namespace

std::string ResolveTarget(const std::string& target) {
  bool has_scheme = target.find("://") != std::string::npos || target.rfind("unix:", 0) == 0;
  if (target.find('/') != std::string::npos && !has_scheme) return "unix:" + target;
  return target;
}

std::string DefaultTarget() {
  const char* env = std::getenv("NETPILOT_SOCKET");
  return ResolveTarget(env != nullptr && *env != '\0' ? env : kDefaultSocket);
}

// google.rpc.Status{details = 3: repeated Any}; google.rpc.BadRequest{field_violations = 1:
// FieldViolation{field = 1, description = 2}}. Parsed by field number, so that no copy of
// the googleapis protos is needed.
std::map<std::string, std::string> FieldViolations(const grpc::Status& status) {
  std::map<std::string, std::string> out;
  UnknownFieldSet rpc_status;
  if (status.error_details().empty() || !rpc_status.ParseFromString(status.error_details())) {
    return out;
  }
  for (const std::string& detail : Strings(rpc_status, 3)) {
    google::protobuf::Any any;
    if (!any.ParseFromString(detail) ||
        any.type_url() != "type.googleapis.com/google.rpc.BadRequest") {
      continue;
    }
    UnknownFieldSet bad_request;
    if (!bad_request.ParseFromString(any.value())) continue;
    for (const std::string& violation : Strings(bad_request, 1)) {
      UnknownFieldSet v;
      if (!v.ParseFromString(violation)) continue;
      auto field = Strings(v, 1);
      auto description = Strings(v, 2);
      if (!field.empty()) out[field[0]] = description.empty() ? "" : description[0];
    }
  }
  return out;
}

Error::Error(const grpc::Status& status)
    : std::runtime_error("netpilot: " + status.error_message() + " (gRPC code " +
                         std::to_string(status.error_code()) + ")"),
      status_(status),
      message_(status.error_message()),
      violations_(FieldViolations(status)) {}

Session::~Session() {
  if (reader_ && !done_) {
    context_.TryCancel();
    reader_->Finish();
  }
}

bool Session::Open(v1::SessionService::Stub& stub, const v1::OpenSessionRequest& request) {
  reader_ = stub.OpenSession(&context_, request);
  v1::OpenSessionResponse first;
  if (!reader_->Read(&first)) return Finish();
  id_ = first.session_id();
  if (first.has_release()) {
    release_ = first.release();
  } else {
    first_ = first.update();
  }
  return true;
}

bool Session::Finish() {
  done_ = true;
  status_ = reader_->Finish();
  return false;
}

bool Session::Next(v1::SessionUpdate* update) {
  if (done_) return false;
  if (first_) {
    *update = std::move(*first_);
    first_.reset();
    return true;
  }
  v1::OpenSessionResponse message;
  while (!release_ && reader_->Read(&message)) {
    if (message.has_release()) {
      release_ = message.release();
    } else if (message.has_update()) {
      *update = message.update();
      return true;
    }
  }
  if (release_ && reader_->Read(&message)) {
    context_.TryCancel();
    Finish();
    status_ = grpc::Status(grpc::StatusCode::INTERNAL, "a message followed the release");
    return false;
  }
  return Finish();
}

Client::Client(const std::string& target) : Client([&] {
  grpc::ChannelArguments args;
  std::string resolved = ResolveTarget(target);
  // The daemon's HTTP/2 stack wants a host name as authority on the Unix socket, not a path.
  if (resolved.rfind("unix:", 0) == 0) args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, "localhost");
  return grpc::CreateCustomChannel(resolved, grpc::InsecureChannelCredentials(), args);
}()) {}

Client::Client(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)),
      manager_(v1::ManagerService::NewStub(channel_)),
      sessions_(v1::SessionService::NewStub(channel_)),
      agent_(v1::AgentService::NewStub(channel_)) {}

std::shared_ptr<grpc::ChannelCredentials> Client::MtlsCredentials(const std::string& ca_file,
                                                                  const std::string& cert_file,
                                                                  const std::string& key_file) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadFile(ca_file);
  options.pem_cert_chain = ReadFile(cert_file);
  options.pem_private_key = ReadFile(key_file);
  return grpc::SslCredentials(options);
}

Client Client::Remote(const std::string& host, const std::string& ca_file,
                      const std::string& cert_file, const std::string& key_file) {
  return Client(grpc::CreateChannel(host, MtlsCredentials(ca_file, cert_file, key_file)));
}

v1::Manager Client::GetManager() {
  grpc::ClientContext context;
  v1::GetManagerResponse response;
  Check(manager_->GetManager(&context, v1::GetManagerRequest(), &response));
  return response.manager();
}

std::vector<v1::Service> Client::Services() {
  grpc::ClientContext context;
  v1::ListServicesResponse response;
  Check(manager_->ListServices(&context, v1::ListServicesRequest(), &response));
  return {response.services().begin(), response.services().end()};
}

std::vector<v1::SessionInfo> Client::ListSessions() {
  grpc::ClientContext context;
  v1::ListSessionsResponse response;
  Check(sessions_->ListSessions(&context, v1::ListSessionsRequest(), &response));
  return {response.sessions().begin(), response.sessions().end()};
}

std::unique_ptr<Session> Client::OpenSession(const std::vector<std::string>& allowed_bearers,
                                             v1::ConnectionType connection_type,
                                             std::chrono::milliseconds timeout) {
  v1::OpenSessionRequest request;
  auto* settings = request.mutable_settings();
  for (const auto& bearer : allowed_bearers) settings->mutable_allowed_bearers()->add_bearers(bearer);
  settings->set_connection_type(connection_type);
  std::unique_ptr<Session> session(new Session());
  if (timeout.count() > 0) session->context_.set_deadline(std::chrono::system_clock::now() + timeout);
  if (!session->Open(*sessions_, request)) throw Error(session->status());
  return session;
}

}  // namespace netpilot
